#include "vm/vm_manager.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "vm/confinement.h"
#include "vm/disk_backup.h"
#include "obs/vmshare_metrics.h"
#include "vm/errors.h"
#include "vm/exit_watcher.h"
#include "vm/image_tool.h"
#include "vm/process.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"
#include "vm/qmp_connection.h"
#include "vm/vm_files.h"
#include "vm/session_sync.h"

namespace vmshare::vm {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

// A blank disk for ISO installs; qcow2 allocates lazily, so the size costs nothing up front.
constexpr std::uint64_t kIsoInstallDiskBytes = 8ULL << 30;
// AF_UNIX paths are limited to 108 bytes including the terminator.
constexpr std::size_t kMaxSocketPath = 107;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The saved pid is ours only if its command line names this VM's run dir; a recycled pid
// belongs to something else and must never be signalled.
bool process_is_vm(std::int64_t pid, const std::string& run_dir) {
  auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return !cmdline.empty() && cmdline.find(run_dir + "/") != std::string::npos;
}

std::string load_or_create_node_id(const std::string& data_dir) {
  const std::string path = data_dir + "/node_id";
  auto existing = read_file(path);
  while (!existing.empty() && (existing.back() == '\n' || existing.back() == ' ')) existing.pop_back();
  if (!existing.empty()) return existing;
  const auto id = new_vmid();
  std::ofstream(path) << id << "\n";
  return id;
}

// /dev/kvm belongs to group kvm; a confined QEMU needs that group to use KVM.
std::vector<unsigned> kvm_group() {
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r("kvm", &g, buf.data(), buf.size(), &found) == 0 && found) return {found->gr_gid};
  return {};
}

}  // namespace

const char* exit_reason_name(ExitReason reason) {
  switch (reason) {
    case ExitReason::guest_poweroff: return "guest_poweroff";
    case ExitReason::stopped: return "stopped";
    case ExitReason::no_viewer: return "no_viewer";
    case ExitReason::session_limit: return "session_limit";
    case ExitReason::logout: return "logout";
    case ExitReason::crashed: return "crashed";
    case ExitReason::killed: return "killed";
  }
  return "unknown";
}

struct VmManager::Instance {
  VmRecord record;
  std::string status = "starting";  // guarded by VmManager::mutex_
  std::mutex op;                    // one operation per VM at a time
  std::unique_ptr<QmpConnection> qmp;
  std::unique_ptr<ExitWatcher> watcher;
  std::unique_ptr<net::steady_timer> grace;
  std::unique_ptr<net::steady_timer> expiry;
  std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;  // guarded by mutex_
  std::optional<ExitReason> requested;  // why we asked it to end; guarded by mutex_
  std::mutex sync;                      // one session store write for this VM at a time

  std::mutex gone_mutex;
  std::condition_variable gone_cv;
  bool gone = false;

  VmView view() const {
    return VmView{record.vmid,         record.user_id, record.os_type, status, record.started_at,
                  record.expires_at,    static_cast<int>(viewers.size()), record.source_snapshot};
  }
};

VmManager::VmManager(const Config& config, Catalog catalog, store::SessionStore& sessions,
                     net::any_io_executor blocking)
    : config_(config),
      catalog_(std::move(catalog)),
      sessions_(sessions),
      monitor_work_(net::make_work_guard(monitor_io_)),
      monitor_thread_([this] { monitor_io_.run(); }),
      io_(monitor_io_.get_executor()),
      blocking_(std::move(blocking)) {
  accel_ = resolve_accel(config_.accel, config_.accel == "tcg" ? false : probe_kvm());
  vms_dir_ = config_.data_dir + "/vms";
  fs::create_directories(vms_dir_);
  ::chmod(vms_dir_.c_str(), 0700);
  if (vms_dir_.size() + 1 + 16 + std::string("/qmp.sock").size() > kMaxSocketPath)
    throw std::runtime_error("VMSHARE_DATA_DIR: path too long for the VMs' UNIX sockets (keep it under 70 characters)");
  node_ = load_or_create_node_id(config_.data_dir);
  spdlog::info("vm: accelerator {}, {} profile(s), at most {} VMs", accel_, catalog_.profiles().size(), config_.max_vms);

  confined_ = confinement_active(parse_confine_mode(config_.confine), ::geteuid() == 0);
  if (confined_) {
    // Files vmshare creates from now on are its own alone unless handed to a VM explicitly.
    ::umask(077);
    open_data_dir_to_vms(config_.data_dir, vms_dir_);
    vm_groups_ = kvm_group();
    spdlog::info("vm: each QEMU runs as its own user (uids {}..{})", config_.vm_uid_base,
                 config_.vm_uid_base + static_cast<std::uint32_t>(std::max(config_.max_vms, 1)) - 1);
    for (const auto& p : catalog_.profiles())
      for (const auto* file : {&p.base_image, &p.kernel, &p.initrd})
        if (!file->empty() && !readable_by_everyone(*file))
          spdlog::warn("vm: profile {}: an image file is not readable by the VMs' users; launches will fail "
                       "until it and its folders are readable by others", p.name);
  } else {
    spdlog::info("vm: QEMU runs as vmshare's own user (VMSHARE_CONFINE={}, {})", config_.confine,
                 ::geteuid() == 0 ? "running as root" : "not running as root");
  }
  if (!config_.cgroups) {
    spdlog::info("vm: per-VM cgroup limits off (VMSHARE_CGROUPS=off)");
  } else {
    cgroups_ = VmCgroups::prepare(node_, locate_own_cgroups());
    if (cgroups_.active())
      spdlog::info("vm: per-VM limits through cgroup v{}: guest RAM + {} MiB, one core per vCPU, {} tasks",
                   cgroups_.version(), config_.vm_memory_overhead_mb, config_.vm_pids_max);
    else
      spdlog::warn("vm: per-VM cgroup limits skipped: {}", cgroups_.why());
  }
}

VmManager::~VmManager() {
  {
    std::lock_guard life(lifetime_->mutex);  // waits for a running resync
    lifetime_->alive = false;
  }
  detach_all();
  monitor_work_.reset();
  monitor_io_.stop();
  monitor_thread_.join();
}

std::shared_ptr<std::mutex> VmManager::user_lock(std::int64_t user_id) {
  std::lock_guard lock(mutex_);
  auto& slot = user_locks_[user_id];
  if (!slot) slot = std::make_shared<std::mutex>();
  return slot;
}

std::shared_ptr<VmManager::Instance> VmManager::get(const std::string& vmid) const {
  std::lock_guard lock(mutex_);
  auto it = vms_.find(vmid);
  return it == vms_.end() ? nullptr : it->second;
}

std::optional<VmView> VmManager::find(const std::string& vmid) const {
  std::lock_guard lock(mutex_);
  auto it = vms_.find(vmid);
  if (it == vms_.end()) return std::nullopt;
  return it->second->view();
}

std::optional<VmView> VmManager::vm_of_user(std::int64_t user_id) const {
  std::lock_guard lock(mutex_);
  auto it = by_user_.find(user_id);
  if (it == by_user_.end()) return std::nullopt;
  return vms_.at(it->second)->view();
}

std::vector<VmView> VmManager::list() const {
  std::lock_guard lock(mutex_);
  std::vector<VmView> out;
  for (const auto& [_, vm] : vms_) out.push_back(vm->view());
  return out;
}

LaunchResult VmManager::launch(const LaunchSpec& spec) {
  const Profile* profile = nullptr;
  std::string base = spec.base_image;
  int memory_mb = 512, cpus = 1;
  profile = spec.os_type == kCustomProfileName ? nullptr : catalog_.find(spec.os_type);
  if (profile) {
    if (base.empty()) base = profile->base_image;
    memory_mb = profile->memory_mb;
    cpus = profile->cpus;
  } else if (base.empty() && spec.iso_path.empty()) {
    // Snapshot boots keep working for profiles since removed from the catalog (defaults above).
    throw UnknownProfile("Unknown os_type '" + spec.os_type + "'");
  }

  // Concurrent requests of one user queue here; the first launches, the rest get its VM.
  auto serial = user_lock(spec.user_id);
  std::lock_guard user_guard(*serial);
  if (auto existing = vm_of_user(spec.user_id)) return {*existing, false};
  {
    std::lock_guard lock(mutex_);
    if (static_cast<int>(vms_.size()) + launching_ >= config_.max_vms)
      throw VmLimitReached("The host is at its VM limit; please try again later");
    ++launching_;
  }
  std::shared_ptr<Instance> vm;
  const auto launch_started = std::chrono::steady_clock::now();
  auto launch_seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - launch_started).count(); };
  try {
    vm = start_instance(spec, base, memory_mb, cpus, profile);
  } catch (...) {
    obs::metrics().vm_launch_duration_seconds.with({"error"}).observe(launch_seconds());
    std::lock_guard lock(mutex_);
    --launching_;
    throw;
  }
  obs::metrics().vm_launch_duration_seconds.with({"ok"}).observe(launch_seconds());
  std::lock_guard lock(mutex_);
  --launching_;
  return {vm->view(), true};
}

std::shared_ptr<VmManager::Instance> VmManager::start_instance(const LaunchSpec& spec, const std::string& base_image,
                                                               int memory_mb, int cpus, const Profile* profile) {
  auto vm = std::make_shared<Instance>();
  auto& r = vm->record;
  r.vmid = new_vmid();
  r.user_id = spec.user_id;
  r.os_type = spec.os_type;
  r.run_dir = vms_dir_ + "/" + r.vmid;
  r.iso_path = spec.iso_path;
  r.base_image = base_image;
  r.source_snapshot = spec.source_snapshot;
  r.started_at = now_unix();
  r.expires_at = r.started_at + config_.max_session_s;
  if (confined_) {
    std::lock_guard lock(mutex_);
    std::set<uid_t> in_use(uids_launching_.begin(), uids_launching_.end());
    for (const auto& [_, other] : vms_) in_use.insert(other->record.uid);
    auto uid = pick_vm_uid(in_use, config_.vm_uid_base, std::max(config_.max_vms, 1));
    if (!uid) throw VmLimitReached("The host is at its VM limit; please try again later");
    r.uid = *uid;
    uids_launching_.insert(r.uid);
  }
  struct UidRelease {
    VmManager* self;
    std::uint32_t uid;
    ~UidRelease() {
      std::lock_guard lock(self->mutex_);
      self->uids_launching_.erase(uid);
    }
  } uid_release{this, r.uid};

  std::optional<Process> process;
  auto undo = [&](const std::string& why) {
    spdlog::warn("vm {}: launch failed: {}", r.vmid, why);
    if (vm->qmp) vm->qmp->close();
    if (process && process->valid()) {
      process->signal(SIGKILL);
      process->wait_for(std::chrono::seconds(5));
    }
    cgroups_.remove(r.vmid);
    std::lock_guard lock(mutex_);
    vms_.erase(r.vmid);
    if (auto it = by_user_.find(r.user_id); it != by_user_.end() && it->second == r.vmid) by_user_.erase(it);
  };
  auto remove_traces = [&] {
    publish(vm);  // no longer in vms_: removes its session
    std::error_code ec;
    fs::remove_all(r.run_dir, ec);
  };

  try {
    if (!fs::create_directory(r.run_dir)) throw LaunchFailed("VM folder already exists");
    ::chmod(r.run_dir.c_str(), 0700);
    if (confined_) hand_over(r.run_dir, r.uid, r.uid, 0700);
    const bool from_catalog = profile && spec.base_image.empty();
    std::string backing = base_image;
    if (confined_ && !spec.base_image.empty()) {
      // A snapshot is the user's own file: the VM reads it through its folder only.
      backing = share_read_only(base_image, r.run_dir, "base.qcow2");
    } else if (confined_ && from_catalog) {
      for (const auto* file : {&base_image, &profile->kernel, &profile->initrd})
        if (!file->empty() && !readable_by_everyone(*file))
          throw LaunchFailed("This system's image is not readable by the VMs; please tell the operator");
    }
    ImageTool images(config_.qemu_img, std::chrono::seconds(60));
    const std::string disk = r.run_dir + "/disk.qcow2";
    if (!backing.empty()) images.create_overlay(backing, disk);
    else images.create_blank(disk, kIsoInstallDiskBytes);
    if (confined_) hand_over(disk, r.uid, r.uid, 0600);

    QemuSpec qemu;
    qemu.qemu_binary = config_.qemu;
    qemu.vmid = r.vmid;
    qemu.accel = accel_;
    qemu.memory_mb = memory_mb;
    qemu.cpus = cpus;
    qemu.disk_path = disk;
    qemu.iso_path = confined_ && !spec.iso_path.empty() ? share_read_only(spec.iso_path, r.run_dir, "cdrom.iso")
                                                        : spec.iso_path;
    qemu.run_dir = r.run_dir;
    if (from_catalog) {
      qemu.kernel = profile->kernel;
      qemu.initrd = profile->initrd;
      qemu.append = profile->append;
    }
    auto argv = build_qemu_argv(qemu);
    if (confined_) {
      DropPrivileges who{r.uid, r.uid, {}};
      for (auto g : vm_groups_) who.groups.push_back(static_cast<gid_t>(g));
      argv = drop_privileges_argv(who, argv);
    }
    process = Process::spawn(SpawnOptions{argv, r.run_dir + "/qemu.log", true});
    r.pid = process->pid();
    cgroups_.attach(r.vmid, process->pid(),
                    vm_limits(memory_mb, cpus, config_.vm_memory_overhead_mb, config_.vm_pids_max));
    save_vm_record(r);
    {
      std::lock_guard lock(mutex_);
      vms_[r.vmid] = vm;
      by_user_[r.user_id] = r.vmid;
    }
    publish(vm);

    // QEMU creates the QMP socket a moment after it starts.
    const auto qmp_path = qmp_socket_path(r.run_dir);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!fs::exists(qmp_path)) {
      if (auto status = process->try_wait())
        throw LaunchFailed("QEMU exited during start-up (" + status->describe() + ")");
      if (std::chrono::steady_clock::now() > deadline) throw LaunchFailed("QEMU did not open its monitor in time");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The socket file appears at bind(), a moment before QEMU listen()s on it: a refused
    // connection then is not a failure yet.
    for (;;) {
      vm->qmp = std::make_unique<QmpConnection>(io_);
      try {
        vm->qmp->connect_sync(qmp_path);
        break;
      } catch (const QmpError&) {
        vm->qmp->close();
        if (process->try_wait() || std::chrono::steady_clock::now() > deadline) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    QmpCommands(*vm->qmp).query_status();
  } catch (const std::exception& e) {
    undo(e.what());
    remove_traces();
    if (dynamic_cast<const LaunchFailed*>(&e)) throw;
    throw LaunchFailed("Could not start the VM");
  }
  vm->watcher = std::make_unique<ExitWatcher>(io_, std::move(*process));
  {
    std::lock_guard lock(mutex_);
    vm->status = "running";
  }
  watch(vm);
  publish(vm);
  arm_grace(vm);
  arm_expiry(vm);
  spdlog::info("vm {}: started {} for user {} (pid {})", r.vmid, r.os_type, r.user_id, r.pid);
  return vm;
}

namespace {

store::VmSession session_of(const VmRecord& r, const std::string& status, const std::string& node) {
  store::VmSession s;
  s.vmid = r.vmid;
  s.user_id = r.user_id;
  s.os_type = r.os_type;
  s.pid = r.pid;
  s.status = status;
  s.started_at = r.started_at;
  s.expires_at = r.expires_at;
  s.node = node;
  return s;
}

}  // namespace

// Mirrors the VM into the shared session store (what /sessions/active, /user_info and other
// nodes see). The state is read under the VM's sync lock, so writes for one VM land in order
// and the last one always carries its latest state; a VM gone from vms_ never comes back.
void VmManager::publish(const std::shared_ptr<Instance>& vm) {
  std::lock_guard sync(vm->sync);
  std::optional<store::VmSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = vms_.find(vm->record.vmid);
    if (it != vms_.end() && it->second == vm) session = session_of(vm->record, vm->status, node_);
  }
  try {
    if (session) sessions_.put_vm(*session);
    else sessions_.remove_vm(vm->record.vmid);
  } catch (const std::exception& e) {
    spdlog::warn("vm {}: session store update failed ({}); will retry", vm->record.vmid, e.what());
    schedule_resync();
  }
}

void VmManager::schedule_resync() {
  std::chrono::seconds delay;
  {
    std::lock_guard lock(mutex_);
    if (resync_armed_) return;
    resync_armed_ = true;
    delay = resync_delay_;
  }
  net::post(io_, [this, delay] {
    if (!resync_timer_) resync_timer_ = std::make_unique<net::steady_timer>(io_);
    resync_timer_->expires_after(delay);
    resync_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      net::post(blocking_, [this, life = lifetime_] {
        std::lock_guard alive(life->mutex);
        if (!life->alive) return;
        {
          std::lock_guard lock(mutex_);
          resync_armed_ = false;  // from here on, a failure schedules the next attempt
        }
        resync_sessions();
      });
    });
  });
}

void VmManager::resync_sessions() {
  try {
    // The store first, then vms_: a session stored for a VM not in vms_ afterwards belongs to a
    // VM that has ended (a VM enters vms_ before its first write).
    const auto stored = sessions_.list_active();
    std::map<std::string, std::shared_ptr<Instance>> live;
    std::vector<store::VmSession> wanted;
    {
      std::lock_guard lock(mutex_);
      live = vms_;
      for (const auto& [_, vm] : vms_) wanted.push_back(session_of(vm->record, vm->status, node_));
    }
    const auto plan = plan_session_sync(stored, wanted, node_);
    for (const auto& vmid : plan.remove) sessions_.remove_vm(vmid);
    {
      std::lock_guard lock(mutex_);
      resync_delay_ = kFirstResyncDelay;
    }
    for (const auto& vmid : plan.put) publish(live.at(vmid));  // re-reads the VM's state
    if (!plan.remove.empty() || !plan.put.empty())
      spdlog::info("vm: session store back in line with this node's VMs ({} removed, {} rewritten)",
                   plan.remove.size(), plan.put.size());
  } catch (const std::exception& e) {
    std::chrono::seconds next;
    {
      std::lock_guard lock(mutex_);
      next = resync_delay_ = std::min(resync_delay_ * 2, kLastResyncDelay);
    }
    spdlog::warn("vm: session store still unreachable ({}); next try in {} s", e.what(), next.count());
    schedule_resync();
  }
}

void VmManager::watch(const std::shared_ptr<Instance>& vm) {
  std::weak_ptr<Instance> weak = vm;
  const std::string vmid = vm->record.vmid;
  vm->watcher->async_wait([this, weak, vmid](const boost::system::error_code& ec, const ExitStatus& status) {
    if (ec) return;  // detached on shutdown: the VM keeps running
    auto vm = weak.lock();
    if (!vm) return;
    ExitReason reason;
    {
      std::lock_guard lock(mutex_);
      reason = vm->requested.value_or(status.known && status.exit_code == 0 ? ExitReason::guest_poweroff
                                      : status.known                          ? ExitReason::crashed
                                                                              : ExitReason::killed);
    }
    spdlog::info("vm {}: QEMU ended ({}), reason {}", vmid, status.describe(), exit_reason_name(reason));
    net::post(blocking_, [this, vmid, reason] { on_exit(vmid, reason); });
  });
}

void VmManager::on_exit(const std::string& vmid, ExitReason reason) {
  auto vm = get(vmid);
  if (vm) cleanup(vm, reason);
}

void VmManager::cleanup(const std::shared_ptr<Instance>& vm, ExitReason reason) {
  std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;
  {
    std::lock_guard lock(mutex_);
    if (vms_.erase(vm->record.vmid) == 0) return;
    if (auto it = by_user_.find(vm->record.user_id); it != by_user_.end() && it->second == vm->record.vmid)
      by_user_.erase(it);
    viewers.swap(vm->viewers);
    ++exits_[exit_reason_name(reason)];
  }
  for (auto& [_, close] : viewers) close("VM stopped");
  if (vm->grace) vm->grace->cancel();
  if (vm->expiry) vm->expiry->cancel();
  if (vm->qmp) vm->qmp->close();
  publish(vm);  // no longer in vms_: removes its session
  std::error_code ec;
  fs::remove_all(vm->record.run_dir, ec);
  cgroups_.remove(vm->record.vmid);
  {
    std::lock_guard lock(vm->gone_mutex);
    vm->gone = true;
  }
  vm->gone_cv.notify_all();
  spdlog::info("vm {}: cleaned up", vm->record.vmid);
}

bool VmManager::wait_gone(const std::shared_ptr<Instance>& vm, std::chrono::milliseconds timeout) {
  std::unique_lock lock(vm->gone_mutex);
  return vm->gone_cv.wait_for(lock, timeout, [&] { return vm->gone; });
}

void VmManager::stop(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  {
    std::lock_guard lock(mutex_);
    if (vm->status == "stopping") throw VmBusy("The VM is already stopping");
    vm->status = "stopping";
    vm->requested = ExitReason::stopped;
  }
  publish(vm);
  try {
    QmpCommands(*vm->qmp).system_powerdown();
  } catch (const std::exception& e) {
    spdlog::warn("vm {}: power-down request failed: {}", vmid, e.what());
  }
  if (wait_gone(vm, std::chrono::seconds(config_.stop_timeout_s))) return;
  spdlog::info("vm {}: guest ignored the power button for {} s, forcing it off", vmid, config_.stop_timeout_s);
  vm->watcher->process().signal(SIGKILL);
  wait_gone(vm, std::chrono::seconds(10));
}

void VmManager::terminate(const std::string& vmid, ExitReason reason) {
  auto vm = get(vmid);
  if (!vm) return;
  {
    std::lock_guard lock(mutex_);
    if (!vm->requested) vm->requested = reason;
    vm->status = "stopping";
  }
  try {
    QmpCommands(*vm->qmp).quit();
  } catch (const std::exception&) {
    // The monitor may already be gone; the signal below settles it.
  }
  if (wait_gone(vm, std::chrono::seconds(3))) return;
  vm->watcher->process().signal(SIGKILL);
  wait_gone(vm, std::chrono::seconds(10));
}

void VmManager::reset(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  QmpCommands(*vm->qmp).system_reset();
}

std::string VmManager::screenshot_png(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  const std::string path = vm->record.run_dir + "/screen-" + new_vmid() + ".png";
  QmpCommands(*vm->qmp).screendump(path, "png");
  auto png = read_file(path);
  std::error_code ec;
  fs::remove(path, ec);
  if (png.empty()) throw VmError("The VM did not produce a screenshot");
  return png;
}

std::uint64_t VmManager::disk_footprint_bytes(const std::string& vmid) const {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  struct stat st {};
  std::uint64_t total = 0;
  if (!vm->record.base_image.empty() && ::stat(vm->record.base_image.c_str(), &st) == 0)
    total += static_cast<std::uint64_t>(st.st_size);
  if (::stat((vm->record.run_dir + "/disk.qcow2").c_str(), &st) == 0)
    total += static_cast<std::uint64_t>(st.st_blocks) * 512;  // allocated, not apparent, size
  return total;
}

void VmManager::backup_disk_to(const std::string& vmid, const std::string& target_path) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  QmpCommands qmp(*vm->qmp);
  const ImageTool images(config_.qemu_img, std::chrono::minutes(10));
  if (!confined_) {
    backup_disk(qmp, images, target_path);
    return;
  }
  // QEMU writes the copy as the VM's user, so into the VM's folder; vmshare then takes it.
  std::error_code ec;
  if (fs::exists(target_path, ec)) throw ImageError("the snapshot file already exists", target_path);
  const std::string staged = vm->record.run_dir + "/backup-" + new_vmid() + ".qcow2";
  BackupOptions options;
  const auto uid = vm->record.uid;
  options.prepare_target = [uid](const std::string& path) { hand_over(path, uid, uid, 0600); };
  backup_disk(qmp, images, staged, options);
  collect_from_vm(staged, target_path);
}

bool VmManager::snapshot_in_use(const std::string& snapshot_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [_, vm] : vms_)
    if (vm->record.source_snapshot == snapshot_name) return true;
  return false;
}

std::string VmManager::vnc_socket(const std::string& vmid) const {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  return vnc_socket_path(vm->record.run_dir);
}

std::uint64_t VmManager::attach_viewer(const std::string& vmid, std::function<void(const std::string&)> close) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard lock(mutex_);
  const auto id = next_viewer_id_++;
  vm->viewers[id] = std::move(close);
  if (vm->grace) vm->grace->cancel();
  return id;
}

void VmManager::detach_viewer(const std::string& vmid, std::uint64_t viewer_id) {
  auto vm = get(vmid);
  if (!vm) return;
  bool last = false;
  {
    std::lock_guard lock(mutex_);
    last = vm->viewers.erase(viewer_id) && vm->viewers.empty();
  }
  if (last) arm_grace(vm);
}

// With no viewer for the grace period, the VM is stopped: nobody is using it.
void VmManager::arm_grace(const std::shared_ptr<Instance>& vm) {
  std::lock_guard lock(mutex_);
  if (!vm->grace) vm->grace = std::make_unique<net::steady_timer>(io_);
  vm->grace->expires_after(std::chrono::seconds(config_.disconnect_grace_s));
  std::weak_ptr<Instance> weak = vm;
  vm->grace->async_wait([this, weak](const boost::system::error_code& ec) {
    if (ec) return;
    auto vm = weak.lock();
    if (!vm) return;
    {
      std::lock_guard lock(mutex_);
      if (!vm->viewers.empty()) return;
    }
    spdlog::info("vm {}: no viewer for {} s, stopping it", vm->record.vmid, config_.disconnect_grace_s);
    net::post(blocking_, [this, vmid = vm->record.vmid] { terminate(vmid, ExitReason::no_viewer); });
  });
}

void VmManager::arm_expiry(const std::shared_ptr<Instance>& vm) {
  std::lock_guard lock(mutex_);
  vm->expiry = std::make_unique<net::steady_timer>(io_);
  vm->expiry->expires_after(std::chrono::seconds(std::max<std::int64_t>(0, vm->record.expires_at - now_unix())));
  std::weak_ptr<Instance> weak = vm;
  vm->expiry->async_wait([this, weak](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto vm = weak.lock()) {
      spdlog::info("vm {}: session limit reached, stopping it", vm->record.vmid);
      net::post(blocking_, [this, vmid = vm->record.vmid] { terminate(vmid, ExitReason::session_limit); });
    }
  });
}

void VmManager::reconcile() {
  std::set<std::string> adopted;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(vms_dir_, ec)) {
    const std::string run_dir = entry.path().string();
    auto record = load_vm_record(run_dir);
    bool kept = false;
    if (record && record->run_dir == run_dir && record->pid > 0 && process_is_vm(record->pid, run_dir)) {
      try {
        auto process = Process::adopt(static_cast<pid_t>(record->pid));
        auto vm = std::make_shared<Instance>();
        vm->record = *record;
        vm->qmp = std::make_unique<QmpConnection>(io_, QmpOptions{std::chrono::seconds(3), std::chrono::seconds(30)});
        try {
          vm->qmp->connect_sync(qmp_socket_path(run_dir));
          QmpCommands(*vm->qmp).query_status();
        } catch (const std::exception& e) {
          spdlog::warn("vm {}: does not answer its monitor ({}), killing it", record->vmid, e.what());
          vm->qmp->close();
          process.signal(SIGKILL);
          process.wait_for(std::chrono::seconds(5));
          throw;
        }
        vm->watcher = std::make_unique<ExitWatcher>(io_, std::move(process));
        vm->status = "running";
        {
          std::lock_guard lock(mutex_);
          vms_[record->vmid] = vm;
          by_user_[record->user_id] = record->vmid;
        }
        watch(vm);
        publish(vm);
        arm_grace(vm);
        arm_expiry(vm);
        adopted.insert(record->vmid);
        kept = true;
        spdlog::info("vm {}: adopted after restart (user {})", record->vmid, record->user_id);
      } catch (const std::exception& e) {
        spdlog::warn("vm {}: not adopted: {}", record ? record->vmid : "?", e.what());
      }
    }
    if (!kept) {
      if (record && record->pid > 0 && process_is_vm(record->pid, run_dir)) {
        try {
          auto process = Process::adopt(static_cast<pid_t>(record->pid));
          process.signal(SIGKILL);
          process.wait_for(std::chrono::seconds(5));
        } catch (const std::exception&) {
        }
      }
      fs::remove_all(run_dir, ec);
      spdlog::info("vm: removed leftovers of a VM that no longer runs");
    }
  }
  cgroups_.remove_all_except(adopted);
  // Sessions this node published earlier whose VM is gone.
  try {
    for (const auto& s : sessions_.list_active())
      if (s.node == node_ && !adopted.count(s.vmid)) sessions_.remove_vm(s.vmid);
  } catch (const std::exception& e) {
    spdlog::warn("vm: could not reconcile the session store: {}; will retry", e.what());
    schedule_resync();
  }
}

void VmManager::detach_all() {
  std::map<std::string, std::shared_ptr<Instance>> vms;
  {
    std::lock_guard lock(mutex_);
    vms = vms_;
  }
  for (auto& [_, vm] : vms) {
    std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;
    {
      std::lock_guard lock(mutex_);
      viewers.swap(vm->viewers);
    }
    for (auto& [__, close] : viewers) close("server shutting down");
    if (vm->watcher) vm->watcher->cancel();
    if (vm->grace) vm->grace->cancel();
    if (vm->expiry) vm->expiry->cancel();
    if (vm->qmp) vm->qmp->close();
  }
}

std::map<std::string, std::int64_t> VmManager::exit_counts() const {
  std::lock_guard lock(mutex_);
  return exits_;
}

std::map<std::int64_t, std::int64_t> VmManager::pids_by_user() const {
  std::lock_guard lock(mutex_);
  std::map<std::int64_t, std::int64_t> out;
  for (const auto& [_, vm] : vms_) out[vm->record.user_id] = vm->record.pid;
  return out;
}

}  // namespace vmshare::vm
