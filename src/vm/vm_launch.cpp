// VmManager::launch: admission, then a pure plan (launch_plan.h) carried out in phases
// (prepare host, spawn, await monitor) with one rollback path (libvirt's phased start).
#include <fcntl.h>
#include <grp.h>
#include <signal.h>

#include <chrono>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "obs/vmshare_metrics.h"
#include "vm/errors.h"
#include "vm/exit_watcher.h"
#include "vm/host_files.h"
#include "vm/image_tool.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"
#include "vm/vm_files.h"
#include "vm/vm_instance.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

namespace {
std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }
// Enough of QEMU's log to say why it failed, in the server log only (it may name server paths).
constexpr std::size_t kLogTailBytes = 2048;
}  // namespace

LaunchResult VmManager::launch(const LaunchSpec& spec) {
  if (spec.os_type != kCustomProfileName && !catalog()->find(spec.os_type) && spec.base_image.empty() &&
      spec.iso_path.empty())
    throw UnknownProfile("Unknown os_type '" + spec.os_type + "'");

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
  const auto started = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  std::shared_ptr<Instance> vm;
  try {
    vm = start_instance(spec);
  } catch (...) {
    obs::metrics().vm_launch_duration_seconds.with({"error"}).observe(seconds());
    std::lock_guard lock(mutex_);
    --launching_;
    throw;
  }
  obs::metrics().vm_launch_duration_seconds.with({"ok"}).observe(seconds());
  std::lock_guard lock(mutex_);
  --launching_;
  return {vm->view(), true};
}

std::uint32_t VmManager::reserve_uid() {
  std::lock_guard lock(mutex_);
  std::set<uid_t> in_use(uids_launching_.begin(), uids_launching_.end());
  for (const auto& [_, other] : vms_) in_use.insert(other->record.uid);
  auto uid = pick_vm_uid(in_use, config_.vm_uid_base, std::max(config_.max_vms, 1));
  if (!uid) throw VmLimitReached("The host is at its VM limit; please try again later");
  uids_launching_.insert(*uid);
  return *uid;
}

void VmManager::release_uid(std::uint32_t uid) {
  std::lock_guard lock(mutex_);
  uids_launching_.erase(uid);
}

std::shared_ptr<VmManager::Instance> VmManager::start_instance(const LaunchSpec& spec) {
  LaunchEnvironment env;
  env.vmid = new_vmid();
  env.vm_dir = vms_dir_ + "/" + env.vmid;
  env.now = now_unix();
  env.max_session_s = config_.max_session_s;
  env.qemu_binary = qemu_binary_;
  env.accel = accel_;
  env.memory_overhead_mb = config_.vm_memory_overhead_mb;
  env.pids_max = config_.vm_pids_max;
  if (confined_) {
    const auto uid = reserve_uid();
    env.confine = DropPrivileges{uid, uid, {}};
    for (auto g : vm_groups_) env.confine->groups.push_back(static_cast<gid_t>(g));
  }
  struct UidRelease {
    VmManager* self;
    std::optional<DropPrivileges> who;
    ~UidRelease() {
      if (who) self->release_uid(who->uid);
    }
  } uid_release{this, env.confine};

  LaunchRequest request{spec.user_id, spec.os_type, spec.base_image, spec.source_snapshot, spec.iso_path};
  const LaunchPlan plan = plan_launch(request, env, *catalog());
  // Cluster: the one-VM-per-user claim across nodes, before anything exists to roll back.
  if (placement_.claim) placement_.claim(plan.record, plan.memory_mb);
  auto vm = std::make_shared<Instance>();
  vm->record = plan.record;
  try {
    // A uid is clean before use: whatever still runs as it (a QEMU that hid from its monitor
    // before a restart) could otherwise reach the new VM's process.
    if (env.confine && !kill_all_of_uid(env.confine->uid)) throw LaunchFailed("Could not start the VM");
    auto files = prepare_host(plan);
    vm->watcher = std::make_unique<ExitWatcher>(io_, spawn_qemu(plan, files));
    vm->output = QemuOutput::start(io_, std::move(files.output_read), std::move(files.log));
  } catch (const std::exception& e) {
    abandon_launch(vm, e.what());  // launching: nothing runs yet
    if (dynamic_cast<const LaunchFailed*>(&e)) throw;
    throw LaunchFailed("Could not start the VM");
  }
  vm->record.pid = vm->watcher->process().pid();
  try {
    save_vm_record(vm->record);
    {
      std::lock_guard lock(mutex_);
      vms_[vm->record.vmid] = vm;
      by_user_[vm->record.user_id] = vm->record.vmid;
    }
    // launched before the watcher starts: a QEMU that dies at once then reports its exit to a
    // machine that knows it was spawned.
    dispatch(vm, VmEvent::of(VmEventKind::launched));
    watch(vm);
    await_monitor(vm, plan);
  } catch (const std::exception& e) {
    abandon_launch(vm, e.what());  // starting: killed, then cleaned up once it has exited
    if (dynamic_cast<const LaunchFailed*>(&e)) throw;
    throw LaunchFailed("Could not start the VM");
  }
  watch_monitor(vm);
  const auto t = dispatch(vm, VmEvent::of(VmEventKind::monitor_ready));
  if (t.next.state != VmState::running) throw LaunchFailed("The VM ended while starting");
  spdlog::info("vm {}: started {} for user {} (pid {})", vm->record.vmid, vm->record.os_type, vm->record.user_id,
               vm->record.pid);
  return vm;
}

// The VM's folder and every file QEMU will use, opened by vmshare.
VmManager::HostFiles VmManager::prepare_host(const LaunchPlan& plan) {
  HostFiles files;
  make_private_dir(plan.record.run_dir);
  const bool kernel_boot = plan.record.source_snapshot.empty() && plan.iso_path.empty();
  if (confined_ && kernel_boot) {  // a kernel and initrd are the only files QEMU opens by path
    const auto catalog_now = catalog();
    if (const auto* profile = catalog_now->find(plan.record.os_type))
      for (const auto* file : {&profile->kernel, &profile->initrd})
        if (!file->empty() && !readable_by_everyone(*file))
          throw LaunchFailed("This system's image is not readable by the VMs; please tell the operator");
  }
  const ImageTool images(config_.qemu_img, std::chrono::seconds(60));
  if (!plan.backing_path.empty()) {
    files.base = open_regular(plan.backing_path, false);
    // QEMU reads the base as a node with no backing of its own (qemu_command.h): a catalog image
    // that is itself an overlay would boot with its data missing. Snapshots were checked when taken.
    if (plan.record.source_snapshot.empty() && images.image_info(plan.backing_path, "qcow2").references_other_files())
      throw LaunchFailed("This system's image is not a standalone disk; please tell the operator");
    images.create_overlay(plan.backing_path, plan.overlay_path);
  } else {
    images.create_blank(plan.overlay_path, plan.blank_bytes);
  }
  files.disk = open_regular(plan.overlay_path, true);
  if (!plan.iso_path.empty()) files.iso = open_regular(plan.iso_path, false);
  files.log = create_exclusive(plan.log_path, O_APPEND);
  auto output = QemuOutput::make_pipe();
  files.output_read = std::move(output.read_end);
  files.output_write = std::move(output.write_end);
  files.qmp_listener = listen_unix(plan.qmp_socket_path);
  return files;
}

Process VmManager::spawn_qemu(const LaunchPlan& plan, HostFiles& files) {
  SpawnOptions options;
  options.argv = plan.argv;
  options.output_fd = files.output_write.get();
  options.pass_fds = {{files.qmp_listener.get(), kQmpFd}, {files.disk.get(), kDiskFd}};
  if (files.base) options.pass_fds.push_back({files.base.get(), kBaseFd});
  if (files.iso) options.pass_fds.push_back({files.iso.get(), kIsoFd});
  auto process = Process::spawn(options);
  // QEMU holds the only listener from here on: when it dies, a pending monitor connection is
  // refused at once instead of waiting out a timeout. The same for the output pipe's write end:
  // its end of file tells the reader QEMU is gone. The log file and the read end stay with vmshare.
  for (auto* fd : {&files.disk, &files.base, &files.iso, &files.qmp_listener, &files.output_write}) fd->reset();
  cgroups_.attach(plan.record.vmid, process.pid(), plan.limits);
  return process;
}

void VmManager::await_monitor(const std::shared_ptr<Instance>& vm, const LaunchPlan& plan) {
  // vmshare bound and listened before QEMU started, so connect() succeeds at once and the
  // greeting arrives when QEMU is ready; a QEMU that dies first resets the connection.
  auto qmp = std::make_shared<QmpConnection>(io_, QmpOptions{std::chrono::seconds(30), std::chrono::seconds(30)});
  {
    std::lock_guard lock(mutex_);
    vm->qmp = qmp;
  }
  qmp->connect_sync(plan.qmp_socket_path);
  QmpCommands(*qmp).query_status();
}

// The one rollback: the machine kills what was spawned and cleans up once QEMU has exited (or at
// once when nothing was spawned); the caller returns only when nothing is left.
void VmManager::abandon_launch(const std::shared_ptr<Instance>& vm, const std::string& why) {
  spdlog::warn("vm {}: launch failed: {}", vm->record.vmid, why);
  dispatch(vm, VmEvent::of(VmEventKind::launch_failed));
  if (!wait_gone(vm, std::chrono::seconds(15))) spdlog::error("vm {}: a failed launch is still not cleaned up", vm->record.vmid);
}

}  // namespace vmshare::vm
