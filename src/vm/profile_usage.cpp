#include "vm/profile_usage.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

namespace vmshare::vm {

namespace fs = std::filesystem;

bool record_uses_profile(const VmRecord& r, const Profile& p) {
  if (r.os_type == p.name) return true;
  auto same = [](const std::string& a, const std::string& b) { return !a.empty() && a == b; };
  return same(r.base_image, p.base_image) || same(r.iso_path, p.iso);
}

namespace {
bool process_alive(std::int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}
}  // namespace

std::vector<std::string> vms_using_profile(const std::string& vms_dir, const Profile& profile) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(vms_dir, ec)) {
    if (!entry.is_directory(ec) || !valid_vmid(entry.path().filename().string())) continue;
    const auto record = load_vm_record(entry.path().string());
    // No record yet: the server is between creating the folder and spawning QEMU (seconds); an
    // older folder without one is a leftover the server removes at its next start.
    if (!record) {
      const auto age = fs::file_time_type::clock::now() - fs::last_write_time(entry.path(), ec);
      if (!ec && age < std::chrono::minutes(2)) out.push_back(entry.path().filename().string());
      continue;
    }
    if (record_uses_profile(*record, profile) && process_alive(record->pid)) out.push_back(record->vmid);
  }
  return out;
}

}  // namespace vmshare::vm
