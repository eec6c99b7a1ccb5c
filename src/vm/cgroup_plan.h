#pragma once
// Per-VM cgroup limits, the pure part: where this process's cgroups are (from /proc/self/
// mountinfo and /proc/self/cgroup) and which files to write for a VM's limits.
//
// cgroup v2 is the target (one unified tree, the VM's group under ours). Hosts that still
// mount memory/cpu/pids as v1 hierarchies (hybrid layouts, some container hosts) get the same
// limits through the v1 files, so the limits hold there too instead of being skipped.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmshare::vm {

inline const std::vector<std::string> kVmControllers{"memory", "cpu", "pids"};

struct CgroupLocation {
  int version = 0;  // 2, 1, or 0 when neither offers the controllers (see `why_not`)
  std::string v2_dir;                              // our own cgroup in the unified tree
  std::map<std::string, std::string> v1_dirs;      // controller -> our own cgroup in its hierarchy
  std::string why_not;
};

// Our cgroup directories. `v2_controllers` is the content of cgroup.controllers in our v2
// cgroup (what the parent delegates to us), empty when unknown or absent.
CgroupLocation locate_cgroups(const std::string& mountinfo, const std::string& proc_self_cgroup,
                              const std::string& v2_controllers_of_own_group);
// Reads the two /proc files and, for v2, our group's cgroup.controllers.
CgroupLocation locate_own_cgroups(const std::string& proc_root = "/proc");

struct VmLimits {
  std::uint64_t memory_bytes = 0;
  int cpu_percent = 100;  // 100 = one core
  int pids = 512;
};

// Guest RAM plus QEMU's own overhead (device emulation, the TCG translation cache, I/O buffers).
VmLimits vm_limits(int guest_memory_mb, int cpus, int overhead_mb, int pids_max);

struct CgroupWrite {
  std::string controller;  // v1: the hierarchy it goes to; v2: informational
  std::string file;
  std::string value;
  bool optional = false;  // absent on some hosts (memory.swap.max without swap accounting)
};
// In order; the cgroup.procs write comes after these.
std::vector<CgroupWrite> limit_writes(int version, const VmLimits& limits);

}  // namespace vmshare::vm
