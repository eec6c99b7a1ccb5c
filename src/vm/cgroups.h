#pragma once
// Per-VM cgroups on the host (the I/O half of cgroup_plan.h): one group per VM under a group
// named for this node, limits written before QEMU's pid is moved in, removed when it ends.
//
// QEMU is moved in right after posix_spawn returns (which it does once the child has exec'd
// setpriv). The few pages setpriv touches before that stay charged to vmshare; guest RAM and
// QEMU's threads come later and are all counted. (clone3's CLONE_INTO_CGROUP would close that
// gap on pure v2 hosts, but posix_spawn cannot use it.)
#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "vm/cgroup_plan.h"

namespace vmshare::vm {

class VmCgroups {
 public:
  VmCgroups() = default;  // inactive
  // Finds our cgroups and prepares "vmshare-<node>" below them. When the host does not allow
  // it, the instance is inactive and why() says why (logged once by the caller).
  static VmCgroups prepare(const std::string& node_id, const CgroupLocation& where);

  bool active() const { return version_ != 0; }
  int version() const { return version_; }
  const std::string& why() const { return why_; }

  // Creates the VM's group, writes the limits, moves `pid` in. Throws VmError (nothing left
  // behind) when any step fails.
  void attach(const std::string& vmid, pid_t pid, const VmLimits& limits) const;
  // Best effort; the group must be empty (the process has exited).
  void remove(const std::string& vmid) const;
  // Start-up: groups of VMs that are no longer running.
  void remove_all_except(const std::set<std::string>& keep_vmids) const;
  // The directories of one VM's group (one per hierarchy), for tests and diagnostics.
  std::vector<std::string> dirs_of(const std::string& vmid) const;

 private:
  int version_ = 0;
  std::vector<std::string> node_dirs_;  // v2: one; v1: one per controller, ordered as kVmControllers
  std::string why_;
};

}  // namespace vmshare::vm
