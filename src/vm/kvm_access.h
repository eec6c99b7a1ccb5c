#pragma once
// Whether the VMs' QEMU can use KVM. The probe must answer for the process that will open
// /dev/kvm: a confined QEMU (its own uid, group kvm if the host has one), not vmshare as root,
// which opens anything. On a host where /dev/kvm is root:root 0600 root can, the VMs cannot.
#include <sys/types.h>

#include <string>
#include <vector>

namespace vmshare::vm {

struct DeviceAccess {
  mode_t mode = 0;
  uid_t owner = 0;
  gid_t group = 0;
};

// Pure: read+write permission on the device for a process with this uid and groups (no caps).
bool device_usable_by(const DeviceAccess& device, uid_t uid, const std::vector<gid_t>& groups);

struct KvmVerdict {
  bool usable = false;
  std::string why;  // when not usable: a sentence for the log, no secrets
};

// Impure: stats /dev/kvm (or `device`). Confined: judged for `uid` with `groups`; else: whether
// vmshare itself can open it read-write.
KvmVerdict probe_kvm_for(bool confined, uid_t uid, const std::vector<gid_t>& groups,
                         const std::string& device = "/dev/kvm");

}  // namespace vmshare::vm
