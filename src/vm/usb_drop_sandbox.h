#pragma once
// How mtools reads back a stick a guest wrote (usb_drop_service.h), the pure part: the argv that
// runs it confined. The bytes are the guest's, so an mtools bug must not give the guest vmshare's
// privileges: the reader runs as the VM's own unprivileged uid (the one its QEMU already runs as,
// so a compromised reader gains nothing the guest's QEMU does not have), with every capability
// set emptied, no_new_privs, resource limits (prlimit: CPU time, address space, no file writes,
// a few descriptors, no core), the clean environment (child_env.h), cwd "/", and the image as
// its only descriptor besides stdio: fd 3, a sealed memfd copy it opens as /proc/self/fd/3
// (a memfd's inode is 0777, where a reopened 0600 file of vmshare's would be refused; the seals
// keep the copy from changing between runs). It gets no path of vmshare's and writes no file:
// what it reads comes back on stdout, capped (run_command.h).
//
// Without a uid to switch to (QEMU not confined: VMSHARE_CONFINE off, or vmshare not root), the
// reader runs as vmshare's own user with the rest of the confinement; vmshare says so once in
// its log at start-up.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vm/confinement.h"

namespace vmshare::vm {

// The image as the confined reader sees it (the memfd it inherits as fd 3).
inline constexpr int kSandboxImageFd = 3;
inline constexpr const char* kSandboxImagePath = "/proc/self/fd/3";

struct DropSandboxLimits {
  std::uint64_t cpu_seconds = 20;
  std::uint64_t address_space_bytes = 512ULL << 20;
  std::uint64_t open_files = 16;
};

struct DropSandbox {
  std::optional<DropPrivileges> user;  // nullopt: vmshare's own user (see above)
  bool drop_bounding_set = true;       // needs CAP_SETPCAP: false when vmshare is not root
  DropSandboxLimits limits;
  // Absolute paths (children get a fixed PATH; resolved once from vmshare's own).
  std::string prlimit = "prlimit", setpriv = "setpriv";
};

// The sandbox for reading back a stick of a VM whose QEMU runs as `vm_uid` (nullopt: not
// confined). `is_root`: whether vmshare can empty the bounding set.
DropSandbox drop_sandbox_for(std::optional<uid_t> vm_uid, bool is_root);

// prlimit <limits> -- setpriv <drop> -- <argv>. Throws std::invalid_argument for uid/gid 0.
std::vector<std::string> sandboxed_argv(const DropSandbox& sandbox, const std::vector<std::string>& argv);

}  // namespace vmshare::vm
