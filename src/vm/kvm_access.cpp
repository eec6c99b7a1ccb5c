#include "vm/kvm_access.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vmshare::vm {

bool device_usable_by(const DeviceAccess& d, uid_t uid, const std::vector<gid_t>& groups) {
  constexpr mode_t rw_user = S_IRUSR | S_IWUSR, rw_group = S_IRGRP | S_IWGRP, rw_other = S_IROTH | S_IWOTH;
  // The kernel uses the first class that matches, even when a later one would grant more.
  if (d.owner == uid) return (d.mode & rw_user) == rw_user;
  if (std::find(groups.begin(), groups.end(), d.group) != groups.end()) return (d.mode & rw_group) == rw_group;
  return (d.mode & rw_other) == rw_other;
}

KvmVerdict probe_kvm_for(bool confined, uid_t uid, const std::vector<gid_t>& groups, const std::string& device) {
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) return {false, fmt::format("{} is missing ({})", device, std::strerror(errno))};
  if (!S_ISCHR(st.st_mode)) return {false, device + " is not a device"};
  if (!confined) {
    int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return {false, fmt::format("vmshare cannot open {} ({})", device, std::strerror(errno))};
    ::close(fd);
    return {true, {}};
  }
  if (device_usable_by({st.st_mode, st.st_uid, st.st_gid}, uid, groups)) return {true, {}};
  return {false, fmt::format("{} is mode {:04o}, owner {}:{}; the VMs' users (group {}) cannot open it: "
                             "give it group kvm with mode 0660",
                             device, st.st_mode & 07777, st.st_uid, st.st_gid,
                             groups.empty() ? std::string("none: the host has no kvm group") : std::to_string(groups[0]))};
}

}  // namespace vmshare::vm
