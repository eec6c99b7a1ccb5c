#pragma once
// QEMU confinement, the pure part: which unprivileged uid a VM runs as, and the command line
// that drops to it. The I/O (file ownership, cgroups) lives in vm_files.* and cgroups.*.
//
// Why a uid per VM (not one shared "qemu" user): a guest that escapes into its QEMU process
// must not be able to read another VM's disk, ISO or snapshot. Each VM gets base+slot, slot
// being the lowest one no running VM holds; the uid needs no /etc/passwd entry.
// Why setpriv (util-linux) as an argv prefix: posix_spawn cannot change credentials, and a
// hand-written fork+setresuid child in a multithreaded daemon is easy to get subtly wrong.
#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vmshare::vm {

enum class ConfineMode { automatic, on, off };

// "auto" confines when the daemon runs as root (it can only drop privileges it has); "on"
// makes not being root a start-up error; "off" runs QEMU as the daemon's own user.
ConfineMode parse_confine_mode(const std::string& text);  // throws std::invalid_argument
bool confinement_active(ConfineMode mode, bool running_as_root);  // throws for on + not root

// The first of `count` uids from `base` that no running VM holds; nullopt when all are taken.
std::optional<uid_t> pick_vm_uid(const std::set<uid_t>& in_use, uid_t base, int count);

struct DropPrivileges {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, e.g. kvm for /dev/kvm
};

// setpriv ... -- <argv>: real, effective and saved ids all become the VM's, every capability set
// is emptied and no_new_privs is set, so nothing the child execs can regain privileges.
std::vector<std::string> drop_privileges_argv(const DropPrivileges& who, const std::vector<std::string>& argv,
                                              const std::string& setpriv = "setpriv");

}  // namespace vmshare::vm
