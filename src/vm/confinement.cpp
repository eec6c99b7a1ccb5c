#include "vm/confinement.h"

#include <stdexcept>

namespace vmshare::vm {

ConfineMode parse_confine_mode(const std::string& text) {
  if (text == "auto") return ConfineMode::automatic;
  if (text == "on") return ConfineMode::on;
  if (text == "off") return ConfineMode::off;
  throw std::invalid_argument("must be auto, on or off");
}

bool confinement_active(ConfineMode mode, bool running_as_root) {
  switch (mode) {
    case ConfineMode::off: return false;
    case ConfineMode::automatic: return running_as_root;
    case ConfineMode::on:
      if (!running_as_root)
        throw std::runtime_error("VMSHARE_CONFINE=on needs vmshare to start as root (it runs each QEMU as its own user)");
      return true;
  }
  return false;
}

std::optional<uid_t> pick_vm_uid(const std::set<uid_t>& in_use, uid_t base, int count) {
  for (int slot = 0; slot < count; ++slot) {
    const uid_t uid = base + static_cast<uid_t>(slot);
    if (uid < base || uid == static_cast<uid_t>(-1)) break;  // wrapped around, or the "no uid" value
    if (!in_use.count(uid)) return uid;
  }
  return std::nullopt;
}

std::vector<std::string> drop_privileges_argv(const DropPrivileges& who, const std::vector<std::string>& argv,
                                              const std::string& setpriv) {
  if (who.uid == 0 || who.gid == 0) throw std::invalid_argument("drop_privileges_argv: refusing uid/gid 0");
  std::vector<std::string> out{setpriv,
                               "--reuid=" + std::to_string(who.uid),
                               "--regid=" + std::to_string(who.gid)};
  if (who.groups.empty()) {
    out.push_back("--clear-groups");
  } else {
    std::string list;
    for (auto g : who.groups) list += (list.empty() ? "" : ",") + std::to_string(g);
    out.push_back("--groups=" + list);
  }
  out.insert(out.end(), {"--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"});
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace vmshare::vm
