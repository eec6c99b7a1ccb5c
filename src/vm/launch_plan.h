#pragma once
// What a launch will do, as a pure function of its inputs (libvirt's "spec in, argv out", one
// step wider): the record vmshare keeps, the files it creates and opens, the descriptors QEMU
// gets, the command line and the cgroup limits. Golden-tested like the QEMU command line; the
// phases in vm_launch.cpp only carry it out.
//
// Every path in the plan is under vmshare's own folder for the VM (vm_dir, 0700, vmshare's
// user) or an input vmshare owns (catalog image, snapshot, ISO): none is in a place a VM's uid
// can write, and QEMU receives descriptors, not these paths.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vm/catalog.h"
#include "vm/cgroup_plan.h"
#include "vm/confinement.h"
#include "vm/vm_record.h"

namespace vmshare::vm {

// A blank disk for ISO installs; qcow2 allocates lazily, so the size costs nothing up front.
inline constexpr std::uint64_t kIsoInstallDiskBytes = 8ULL << 30;

struct LaunchRequest {
  std::int64_t user_id = 0;
  std::string os_type;          // a catalog profile, or kCustomProfileName for an ISO
  std::string snapshot_path;    // set for snapshot boots: the overlay's base
  std::string snapshot_name;
  std::string iso_path;         // set for ISO boots
};

struct LaunchEnvironment {
  std::string vmid;             // fresh, from new_vmid()
  std::string vm_dir;           // absolute: <data>/vms/<vmid>
  std::int64_t now = 0;         // unix seconds
  std::int64_t max_session_s = 0;
  std::string qemu_binary;
  std::string setpriv = "setpriv";
  std::string accel;            // resolved: "kvm" | "tcg"
  std::optional<DropPrivileges> confine;  // set: QEMU runs as this uid
  int memory_overhead_mb = 512;
  int pids_max = 512;
};

struct LaunchPlan {
  VmRecord record;
  std::string overlay_path;     // created by qemu-img (on backing_path, or blank), passed read-write
  std::string backing_path;     // empty: a blank disk
  std::uint64_t blank_bytes = 0;
  std::string iso_path;         // passed read-only; empty: none
  std::string qmp_socket_path;  // vmshare binds and listens, QEMU gets the listening socket
  std::string log_path;         // QEMU's stdout+stderr, opened by vmshare
  int memory_mb = 0;
  int cpus = 0;
  std::vector<std::string> argv;  // setpriv prefix included when confined
  VmLimits limits;
};

// Throws UnknownProfile for an os_type neither in the catalog nor booted from a snapshot or ISO.
// A snapshot of a profile since removed from the catalog still boots (512 MiB, 1 CPU).
LaunchPlan plan_launch(const LaunchRequest& request, const LaunchEnvironment& env, const Catalog& catalog);

// The plan as text, one fact per line, for golden files and debug logs.
std::string describe(const LaunchPlan& plan);

}  // namespace vmshare::vm
