#pragma once
// The VMs this node runs: launch (one per user, a host-wide limit), stop, reset, screenshots,
// viewers and the disconnect grace, the session limit, exits, and adoption after a restart.
// Split by job: vm_manager.cpp (registry, stop, timers, sessions), vm_launch.cpp (the phases of
// a launch and its one rollback), vm_adoption.cpp (after a restart), vm_monitor_ops.cpp
// (consoles, screenshots, backups: everything that hands QEMU a descriptor).
//
// Trust: each VM's folder (<data>/vms/<vmid>, 0700) is vmshare's alone and holds its record,
// the overlay, QEMU's log and the monitor socket; QEMU gets descriptors, never paths, and a
// confined QEMU's uid owns no file on the host. Nothing a VM controls is followed or believed:
// a process is taken as a VM's after a restart only by the kernel's word (SO_PEERCRED on the
// monitor socket vmshare bound), not by /proc, which ProtectProc=invisible hides anyway.
//
// Locking: `mutex_` guards the maps and is never held across QMP or process I/O; each VM has
// its own operation mutex so one operation runs per VM at a time (libvirt's rule).
// Blocking methods are for worker threads. Monitors, exit watchers and timers run on the
// manager's own monitor thread (so adoption works before the HTTP server runs) and hand
// blocking clean-up to the worker executor.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/config.h"
#include "store/session_store.h"
#include "vm/catalog.h"
#include "vm/cgroups.h"
#include "vm/exit_reason.h"
#include "vm/launch_plan.h"
#include "vm/process.h"
#include "vm/unique_fd.h"
#include "vm/vm_record.h"
#include "vm/vm_state_machine.h"

namespace vmshare::vm {

class QmpConnection;

struct VmView {
  std::string vmid;
  std::int64_t user_id = 0;
  std::string os_type;
  std::string status;  // starting | running | stopping
  std::int64_t started_at = 0;
  std::int64_t expires_at = 0;
  int viewers = 0;
  std::string source_snapshot;  // booted from this snapshot, if any
};

struct LaunchSpec {
  std::int64_t user_id = 0;
  std::string os_type;        // a catalog profile, or "custom" for an ISO
  std::string base_image;     // set for snapshot boots (overrides the profile's base)
  std::string iso_path;       // set for ISO boots
  std::string source_snapshot;  // the snapshot's name, for snapshot boots
};

struct LaunchResult {
  VmView vm;
  bool created = false;  // false: the user's running VM was returned
};

class VmManager {
 public:
  VmManager(const Config& config, Catalog catalog, store::SessionStore& sessions,
            boost::asio::any_io_executor blocking);
  ~VmManager();

  // The catalog now; a launch keeps the one it started with. Hold the pointer while using it.
  std::shared_ptr<const Catalog> catalog() const {
    std::lock_guard lock(catalog_mutex_);
    return catalog_;
  }
  // Hot reload (catalog_watcher.h): new launches use `next`; running VMs of a profile that is
  // gone keep running (a VM needs its profile only to start).
  void replace_catalog(Catalog next);
  // This node's id (kept in the data folder), as written into sessions and snapshot records.
  const std::string& node_id() const { return node_; }

  // Adopts VMs that survived a daemon restart and answer QMP; kills and cleans the rest.
  void reconcile();

  LaunchResult launch(const LaunchSpec& spec);
  std::optional<VmView> find(const std::string& vmid) const;
  std::optional<VmView> vm_of_user(std::int64_t user_id) const;
  std::vector<VmView> list() const;

  // ACPI power-down, then a forced stop after the configured timeout; returns once it is gone.
  void stop(const std::string& vmid);
  // Immediate, for logout and the timers: QMP quit, SIGKILL if that fails.
  void terminate(const std::string& vmid, ExitReason reason);
  void reset(const std::string& vmid);
  std::string screenshot_png(const std::string& vmid);

  // Bytes the VM's disk occupies on the host: its base (catalog image or snapshot) plus what
  // the overlay has allocated. What a snapshot is expected to cost.
  std::uint64_t disk_footprint_bytes(const std::string& vmid) const;
  // A standalone, point-in-time copy of the running VM's disk at `target_path` (blocking; the
  // guest keeps running). Removes the target on failure.
  void backup_disk_to(const std::string& vmid, const std::string& target_path);
  // Whether a running VM sits on top of this snapshot file.
  bool snapshot_in_use(const std::string& snapshot_name) const;

  // A new VNC connection to the VM: one end of a socketpair whose other end QEMU took through
  // QMP (getfd + add_client). Blocking (worker threads). For callers already authorised.
  UniqueFd open_console(const std::string& vmid);
  // A console opened / closed. `close` is called with a reason when the VM goes away.
  std::uint64_t attach_viewer(const std::string& vmid, std::function<void(const std::string&)> close);
  void detach_viewer(const std::string& vmid, std::uint64_t viewer_id);

  // USB sticks (usb_drop_service.h; usb_drop_monitor.cpp): a raw image vmshare opened read-write,
  // passed with add-fd and plugged in as usb-storage; unplugged with device_del, then its node
  // and fd set are removed. Blocking, one monitor operation per VM at a time.
  struct UsbStick {
    std::string node, device;
    std::int64_t fdset = -1;
  };
  UsbStick plug_usb_stick(const std::string& vmid, int image_fd, const std::string& name);
  void unplug_usb_stick(const std::string& vmid, const UsbStick& stick);
  // The uid a running VM's QEMU runs as, when confined (nullopt: not confined, or no such VM):
  // what reads back the stick the guest wrote runs as that uid too (usb_drop_sandbox.h).
  std::optional<std::uint32_t> confined_uid(const std::string& vmid) const;
  // Unplugs every stick QEMU has under vmshare's ids but `known_device` (a restart between
  // plugging one in and recording it), so none is left that its owner cannot eject. Returns how many.
  std::size_t unplug_unknown_usb_sticks(const std::string& vmid, const std::string& known_device);

  // Daemon shutdown: stop watching, close consoles and monitors, leave the VMs running.
  void detach_all();

  // Several nodes (src/cluster): each VM is claimed in the shared table in the launch's prepare
  // phase (before anything is made; `claim` throws to refuse, e.g. the user runs a VM on another
  // node) and released once it is gone. Unset: one node. Set before the first launch.
  struct PlacementHooks {
    std::function<void(const VmRecord& record, int memory_mb)> claim;
    std::function<void(const VmRecord& record)> release;
  };
  void set_placement_hooks(PlacementHooks hooks) { placement_ = std::move(hooks); }

  // Called (on a worker thread) after a VM has ended and been cleaned up, e.g. to revoke its
  // share links. Add listeners before the first launch; they must not throw.
  void on_vm_ended(std::function<void(const std::string& vmid)> listener) { end_listeners_.push_back(std::move(listener)); }

  // Exits by reason since start-up, for metrics.
  std::map<std::string, std::int64_t> exit_counts() const;
  std::map<std::int64_t, std::int64_t> pids_by_user() const;

  // Whether QEMU runs as per-VM users, and the cgroup limits in force (inactive: skipped).
  bool confined() const { return confined_; }
  const std::string& accelerator() const { return accel_; }
  const VmCgroups& cgroups() const { return cgroups_; }

  struct Instance;

 private:
  std::shared_ptr<Instance> get(const std::string& vmid) const;
  void choose_accelerator();
  std::shared_ptr<Instance> start_instance(const LaunchSpec& spec);
  // Launch phases (vm_launch.cpp); each throws, and start_instance rolls back once.
  struct HostFiles;
  HostFiles prepare_host(const LaunchPlan& plan);
  Process spawn_qemu(const LaunchPlan& plan, HostFiles& files);
  void await_monitor(const std::shared_ptr<Instance>& vm, const LaunchPlan& plan);
  void abandon_launch(const std::shared_ptr<Instance>& vm, const std::string& why);
  std::uint32_t reserve_uid();
  void release_uid(std::uint32_t uid);
  // Adoption of one VM folder found at start-up (vm_adoption.cpp); true when kept.
  bool adopt(const std::string& vm_dir, const std::string& name);
  void end_leftover(const std::string& vm_dir, const std::set<std::uint32_t>& uids_in_use);
  std::shared_ptr<QmpConnection> open_monitor(const std::string& vm_dir, std::chrono::milliseconds timeout);
  // The life of each VM (vm_lifecycle.cpp): an event goes through the pure state machine and
  // the actions it returns are performed in order, one event per VM at a time. Worker threads
  // only: timers, the exit watcher and the monitor post their events there.
  VmTransition dispatch(const std::shared_ptr<Instance>& vm, const VmEvent& event);
  void perform(const std::shared_ptr<Instance>& vm, VmAction action);
  void post_event(const std::shared_ptr<Instance>& vm, VmEvent event);
  void arm_timer(const std::shared_ptr<Instance>& vm, std::unique_ptr<boost::asio::steady_timer> Instance::*timer,
                 std::chrono::seconds after, VmEventKind fires);
  void cancel_timer(const std::shared_ptr<Instance>& vm, std::unique_ptr<boost::asio::steady_timer> Instance::*timer);
  void watch(const std::shared_ptr<Instance>& vm);
  void watch_monitor(const std::shared_ptr<Instance>& vm);
  void reopen_monitor(const std::shared_ptr<Instance>& vm);
  void cleanup(const std::shared_ptr<Instance>& vm);
  bool wait_gone(const std::shared_ptr<Instance>& vm, std::chrono::milliseconds timeout);
  std::shared_ptr<QmpConnection> monitor_of(const std::shared_ptr<Instance>& vm) const;
  // Mirrors the VM into the shared session store as it is now (its session removed once it is
  // no longer in vms_), one writer per VM at a time. A failed write schedules a resync.
  void publish(const std::shared_ptr<Instance>& vm);
  // The session store missed writes (unreachable): retrying until it succeeds (after 1 s, then
  // backing off), bring this node's sessions in line with its VMs, so none is missing, stale or
  // left behind.
  void schedule_resync();
  void resync_sessions();
  std::shared_ptr<std::mutex> user_lock(std::int64_t user_id);
  void warn_unreadable_kernels(const Catalog& catalog) const;

  Config config_;
  PlacementHooks placement_;
  mutable std::mutex catalog_mutex_;
  std::shared_ptr<const Catalog> catalog_;
  store::SessionStore& sessions_;
  boost::asio::io_context monitor_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> monitor_work_;
  std::thread monitor_thread_;
  boost::asio::any_io_executor io_;
  boost::asio::any_io_executor blocking_;
  std::string accel_;
  std::string accel_why_;  // the start-up log line's reason for accel_
  std::string vms_dir_;
  std::string qemu_binary_;  // resolved to an absolute path at start-up (children get a fixed PATH)
  std::string node_;
  bool confined_ = false;
  std::vector<unsigned> vm_groups_;  // supplementary groups of confined QEMUs (kvm)
  VmCgroups cgroups_;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Instance>> vms_;
  std::map<std::int64_t, std::string> by_user_;
  std::map<std::int64_t, std::shared_ptr<std::mutex>> user_locks_;
  int launching_ = 0;
  std::set<std::uint32_t> uids_launching_;  // picked for VMs not yet in vms_
  std::map<std::string, std::int64_t> exits_;
  std::uint64_t next_viewer_id_ = 1;
  bool resync_armed_ = false;  // a resync is scheduled; guarded by mutex_
  // Retries back off while the store stays unreachable: 1, 2, 4, 8, 10, 10 ... s; guarded by mutex_.
  static constexpr std::chrono::seconds kFirstResyncDelay{1}, kLastResyncDelay{10};
  std::chrono::seconds resync_delay_ = kFirstResyncDelay;
  std::unique_ptr<boost::asio::steady_timer> resync_timer_;  // used on the monitor thread only
  // Resyncs run on the worker pool: they hold this while running and skip once the manager is
  // being destroyed.
  struct Lifetime {
    std::shared_mutex mutex;  // shared by each running job, exclusive for the destructor
    bool alive = true;
  };
  std::shared_ptr<Lifetime> lifetime_ = std::make_shared<Lifetime>();
  std::vector<std::function<void(const std::string&)>> end_listeners_;  // set before launches, then read-only
};

}  // namespace vmshare::vm
