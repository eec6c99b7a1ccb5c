#include "vm/vm_manager.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/confinement.h"
#include "vm/kvm_access.h"
#include "vm/vm_instance.h"
#include "obs/vmshare_metrics.h"
#include "vm/errors.h"
#include "vm/exit_watcher.h"
#include "vm/host_files.h"
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

// A stop or an end waits this long beyond its own timers (quit, then SIGKILL, then the exit).
constexpr std::chrono::seconds kQuitAndKillWait{15};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
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

VmManager::VmManager(const Config& config, Catalog catalog, store::SessionStore& sessions,
                     net::any_io_executor blocking)
    : config_(config),
      catalog_(std::make_shared<const Catalog>(std::move(catalog))),
      sessions_(sessions),
      monitor_work_(net::make_work_guard(monitor_io_)),
      monitor_thread_([this] { monitor_io_.run(); }),
      io_(monitor_io_.get_executor()),
      blocking_(std::move(blocking)) {
  vms_dir_ = config_.data_dir + "/vms";
  fs::create_directories(vms_dir_);
  ::chmod(vms_dir_.c_str(), 0700);
  // AF_UNIX paths hold 107 bytes: <vms>/<16-char vmid>/qmp.sock.
  if (vms_dir_.size() + 1 + 16 + std::string("/qmp.sock").size() > 107)
    throw std::runtime_error("VMSHARE_DATA_DIR: path too long for the VMs' monitor sockets (keep it under 70 characters)");
  // In a cluster the operator names the node (VMSHARE_NODE_ID); the shared tables use that name.
  node_ = config_.cluster.enabled() ? config_.cluster.node_id : load_or_create_node_id(config_.data_dir);
  qemu_binary_ = resolve_in_path(config_.qemu);

  confined_ = confinement_active(parse_confine_mode(config_.confine), ::geteuid() == 0);
  if (confined_) {
    // Files vmshare creates from now on are its own alone.
    ::umask(077);
    open_data_dir_to_vms(config_.data_dir, vms_dir_);
    vm_groups_ = kvm_group();
    spdlog::info("vm: each QEMU runs as its own user (uids {}..{})", config_.vm_uid_base,
                 config_.vm_uid_base + static_cast<std::uint32_t>(std::max(config_.max_vms, 1)) - 1);
    warn_unreadable_kernels(*catalog_);
  } else {
    spdlog::info("vm: QEMU runs as vmshare's own user (VMSHARE_CONFINE={}, {})", config_.confine,
                 ::geteuid() == 0 ? "running as root" : "not running as root");
  }
  choose_accelerator();
  // One line says what runs the guests and why (docs/operations.md, "KVM").
  spdlog::log(accel_ == "tcg" && config_.accel != "tcg" ? spdlog::level::warn : spdlog::level::info,
              "vm: accelerator {} ({}); {} profile(s), at most {} VMs", accel_, accel_why_,
              catalog_->profiles().size(), config_.max_vms);
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

void VmManager::warn_unreadable_kernels(const Catalog& catalog) const {
  for (const auto& p : catalog.profiles())
    for (const auto* file : {&p.kernel, &p.initrd})  // disks go to QEMU as descriptors; kernels by path
      if (!file->empty() && !readable_by_everyone(*file))
        spdlog::warn("vm: profile {}: its kernel or initrd is not readable by the VMs' users; launches will "
                     "fail until it and its folders are readable by others", p.name);
}

void VmManager::replace_catalog(Catalog next) {
  if (confined_) warn_unreadable_kernels(next);
  auto fresh = std::make_shared<const Catalog>(std::move(next));
  std::lock_guard lock(catalog_mutex_);
  catalog_ = std::move(fresh);
}

// What the VMs' QEMU can open decides, not what vmshare (root) can.
void VmManager::choose_accelerator() {
  if (config_.accel == "tcg") {
    accel_ = "tcg";
    accel_why_ = "VMSHARE_ACCEL=tcg";
    return;
  }
  std::vector<gid_t> groups(vm_groups_.begin(), vm_groups_.end());
  const auto verdict = probe_kvm_for(confined_, config_.vm_uid_base, groups);
  if (config_.accel == "kvm" && !verdict.usable)
    throw std::runtime_error("VMSHARE_ACCEL=kvm, but KVM is not usable by the VMs: " + verdict.why);
  accel_ = resolve_accel(config_.accel, verdict.usable);
  const std::string who = confined_ ? "the VMs' users" : "vmshare's own user";
  accel_why_ = verdict.usable ? fmt::format("VMSHARE_ACCEL={}: /dev/kvm is usable by {}", config_.accel, who)
                              : fmt::format("VMSHARE_ACCEL={}: KVM not usable, slower emulation: {}", config_.accel,
                                            verdict.why);
}

VmManager::~VmManager() {
  {
    std::unique_lock life(lifetime_->mutex);  // waits for running resyncs and VM events
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
    if (it != vms_.end() && it->second == vm) session = session_of(vm->record, vm->status(), node_);
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
        std::shared_lock alive(life->mutex);
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
      for (const auto& [_, vm] : vms_) wanted.push_back(session_of(vm->record, vm->status(), node_));
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

void VmManager::stop(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  const auto t = dispatch(vm, VmEvent::of(VmEventKind::stop_requested));
  if (t.verdict == Verdict::refused) {
    if (t.refusal == Refusal::gone) throw VmNotFound("No such VM");
    throw VmBusy(std::string(refusal_detail(t.refusal)));
  }
  // The machine forces it off after the stop timeout; this only waits for the end.
  if (!wait_gone(vm, std::chrono::seconds(config_.stop_timeout_s) + kQuitAndKillWait))
    spdlog::warn("vm {}: still not gone after a stop", vmid);
}

void VmManager::terminate(const std::string& vmid, ExitReason reason) {
  auto vm = get(vmid);
  if (!vm) return;
  dispatch(vm, VmEvent::terminate(reason));
  if (!wait_gone(vm, kQuitAndKillWait)) spdlog::warn("vm {}: still not gone after ending it", vmid);
}

void VmManager::reset(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  QmpCommands(*monitor_of(vm)).system_reset();
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

bool VmManager::snapshot_in_use(const std::string& snapshot_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [_, vm] : vms_)
    if (vm->record.source_snapshot == snapshot_name) return true;
  return false;
}

std::uint64_t VmManager::attach_viewer(const std::string& vmid, std::function<void(const std::string&)> close) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = next_viewer_id_++;
    vm->viewers[id] = std::move(close);
  }
  if (dispatch(vm, VmEvent::of(VmEventKind::viewer_attached)).verdict == Verdict::refused) {
    std::lock_guard lock(mutex_);
    vm->viewers.erase(id);
    throw VmNotFound("No such VM");
  }
  return id;
}

void VmManager::detach_viewer(const std::string& vmid, std::uint64_t viewer_id) {
  auto vm = get(vmid);
  if (!vm) return;
  {
    std::lock_guard lock(mutex_);
    if (vm->viewers.erase(viewer_id) == 0) return;  // already closed by close_viewers
  }
  dispatch(vm, VmEvent::of(VmEventKind::viewer_detached));
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
    for (auto timer : {&Instance::grace, &Instance::expiry, &Instance::stop_timer}) cancel_timer(vm, timer);
    if (auto qmp = [&] { std::lock_guard lock(mutex_); return vm->qmp; }()) qmp->close();
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
