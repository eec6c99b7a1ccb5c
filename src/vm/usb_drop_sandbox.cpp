#include "vm/usb_drop_sandbox.h"

#include <stdexcept>

namespace vmshare::vm {

DropSandbox drop_sandbox_for(std::optional<uid_t> vm_uid, bool is_root) {
  DropSandbox s;
  // The VM's uid, its own group and no supplementary group (no kvm: mtools needs no device).
  if (vm_uid) s.user = DropPrivileges{*vm_uid, static_cast<gid_t>(*vm_uid), {}};
  s.drop_bounding_set = is_root || vm_uid.has_value();
  return s;
}

std::vector<std::string> sandboxed_argv(const DropSandbox& s, const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("sandboxed_argv: empty argv");
  const auto both = [](const char* opt, std::uint64_t v) {
    return std::string(opt) + std::to_string(v) + ":" + std::to_string(v);  // soft and hard
  };
  // mtools writes nothing but stdout/stderr (pipes, which RLIMIT_FSIZE does not cover).
  std::vector<std::string> out{s.prlimit,
                               both("--cpu=", s.limits.cpu_seconds),
                               both("--as=", s.limits.address_space_bytes),
                               both("--fsize=", 0),
                               both("--nofile=", s.limits.open_files),
                               both("--core=", 0),
                               "--"};
  if (s.user) {
    // setpriv ... --no-new-privs -- argv, the same drop as QEMU's (confinement.h).
    auto dropped = drop_privileges_argv(*s.user, argv, s.setpriv);
    out.insert(out.end(), dropped.begin(), dropped.end());
    return out;
  }
  out.insert(out.end(), {s.setpriv, "--inh-caps=-all", "--ambient-caps=-all"});
  if (s.drop_bounding_set) out.emplace_back("--bounding-set=-all");
  out.insert(out.end(), {"--no-new-privs", "--"});
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace vmshare::vm
