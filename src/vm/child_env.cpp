#include "vm/child_env.h"

namespace vmshare::vm {

const std::vector<std::string>& child_environment() {
  // argv[0] lookups (qemu-system-x86_64, qemu-img, setpriv) happen in vmshare's posix_spawnp with
  // its own PATH; this PATH only serves what the child itself may exec (setpriv -> QEMU).
  static const std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "LANG=C.UTF-8",
  };
  return env;
}

std::vector<char*> envp_of(const std::vector<std::string>& entries) {
  std::vector<char*> out;
  out.reserve(entries.size() + 1);
  for (const auto& e : entries) out.push_back(const_cast<char*>(e.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace vmshare::vm
