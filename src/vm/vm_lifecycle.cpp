// The life of each VM, driven by the pure state machine (vm_state_machine.h): events come from
// requests, timers, the exit watcher and the monitor's EOF; transition() decides, and this file
// performs the actions it returns, in order, one event per VM at a time.
#include <poll.h>
#include <signal.h>

#include <filesystem>
#include <shared_mutex>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "vm/host_files.h"
#include "vm/qmp_commands.h"
#include "vm/vm_instance.h"

namespace vmshare::vm {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {
std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }
// After quit (or a failed reopen) QEMU gets this long before SIGKILL.
constexpr std::chrono::seconds kQuitTimeout{3};
constexpr std::size_t kLogTailBytes = 2048;
}  // namespace

VmTransition VmManager::dispatch(const std::shared_ptr<Instance>& vm, const VmEvent& event) {
  std::lock_guard serial(vm->events);
  VmTransition t;
  {
    std::lock_guard lock(mutex_);
    t = transition(vm->machine, event);
    vm->machine = t.next;
  }
  if (t.verdict == Verdict::invalid)
    spdlog::warn("vm {}: event {} in state {} ignored (a bug)", vm->record.vmid, event_name(event.kind),
                 state_name(t.next.state));
  for (auto action : t.actions) {
    try {
      perform(vm, action);
    } catch (const std::exception& e) {  // one failed action must not skip the rest (cleanup)
      spdlog::warn("vm {}: {} failed: {}", vm->record.vmid, action_name(action), e.what());
    }
  }
  if (t.verdict == Verdict::applied && t.next.state == VmState::gone) {
    // Only now, with every action of the end done (exit counted too), do waiters return.
    {
      std::lock_guard lock(vm->gone_mutex);
      vm->gone = true;
    }
    vm->gone_cv.notify_all();
  }
  return t;
}

void VmManager::post_event(const std::shared_ptr<Instance>& vm, VmEvent event) {
  net::post(blocking_, [this, weak = std::weak_ptr<Instance>(vm), event, life = lifetime_] {
    std::shared_lock alive(life->mutex);
    if (!life->alive) return;
    if (auto vm = weak.lock()) dispatch(vm, event);
  });
}

std::shared_ptr<QmpConnection> VmManager::monitor_of(const std::shared_ptr<Instance>& vm) const {
  std::lock_guard lock(mutex_);
  if (!vm->qmp) throw VmBusy("The VM is not ready yet");
  return vm->qmp;
}

void VmManager::perform(const std::shared_ptr<Instance>& vm, VmAction action) {
  using A = VmAction;
  switch (action) {
    case A::publish_session: return publish(vm);
    case A::arm_grace: return arm_timer(vm, &Instance::grace, std::chrono::seconds(config_.disconnect_grace_s), VmEventKind::grace_expired);
    case A::cancel_grace: return cancel_timer(vm, &Instance::grace);
    case A::arm_expiry:
      return arm_timer(vm, &Instance::expiry, std::chrono::seconds(std::max<std::int64_t>(0, vm->record.expires_at - now_unix())),
                       VmEventKind::session_expired);
    case A::cancel_expiry: return cancel_timer(vm, &Instance::expiry);
    case A::send_powerdown:
    case A::send_quit: {
      // Asynchronous: a monitor that does not answer is settled by the stop timer.
      std::shared_ptr<QmpConnection> qmp;
      {
        std::lock_guard lock(mutex_);
        qmp = vm->qmp;
      }
      if (qmp) qmp->async_execute(action == A::send_quit ? "quit" : "system_powerdown", nlohmann::json::object(), nullptr);
      return;
    }
    case A::arm_stop_timeout: {
      VmState state;
      {
        std::lock_guard lock(mutex_);
        state = vm->machine.state;
      }
      const auto after = state == VmState::stopping ? std::chrono::seconds(config_.stop_timeout_s) : kQuitTimeout;
      return arm_timer(vm, &Instance::stop_timer, after, VmEventKind::stop_timeout);
    }
    case A::kill:
      spdlog::info("vm {}: killing QEMU", vm->record.vmid);
      if (vm->watcher) vm->watcher->process().signal(SIGKILL);
      return;
    case A::reopen_monitor: return reopen_monitor(vm);
    case A::close_viewers: {
      std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;
      {
        std::lock_guard lock(mutex_);
        viewers.swap(vm->viewers);
      }
      for (auto& [_, close] : viewers) close("VM stopped");
      return;
    }
    case A::cleanup: return cleanup(vm);
    case A::record_exit: {
      std::string reason;
      {
        std::lock_guard lock(mutex_);
        reason = exit_reason_name(vm->machine.exit_reason.value_or(ExitReason::killed));
        ++exits_[reason];
      }
      spdlog::info("vm {}: ended, reason {}", vm->record.vmid, reason);
      return;
    }
  }
}

void VmManager::arm_timer(const std::shared_ptr<Instance>& vm, std::unique_ptr<net::steady_timer> Instance::*timer,
                          std::chrono::seconds after, VmEventKind fires) {
  net::post(io_, [this, weak = std::weak_ptr<Instance>(vm), timer, after, fires] {
    auto vm = weak.lock();
    if (!vm) return;
    auto& t = (*vm).*timer;
    if (!t) t = std::make_unique<net::steady_timer>(io_);
    t->expires_after(after);
    t->async_wait([this, weak, fires](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto vm = weak.lock()) post_event(vm, VmEvent::of(fires));
    });
  });
}

void VmManager::cancel_timer(const std::shared_ptr<Instance>& vm, std::unique_ptr<net::steady_timer> Instance::*timer) {
  net::post(io_, [weak = std::weak_ptr<Instance>(vm), timer] {
    auto vm = weak.lock();
    if (vm && (*vm).*timer) ((*vm).*timer)->cancel();
  });
}

void VmManager::watch(const std::shared_ptr<Instance>& vm) {
  std::weak_ptr<Instance> weak = vm;
  vm->watcher->async_wait([this, weak](const boost::system::error_code& ec, const ExitStatus& status) {
    if (ec) return;  // detached on shutdown: the VM keeps running
    auto vm = weak.lock();
    if (!vm) return;
    spdlog::info("vm {}: QEMU ended ({})", vm->record.vmid, status.describe());
    post_event(vm, VmEvent::exited(status.known, status.exit_code));
  });
}

// The monitor's EOF is an event (libvirt's habit): the machine decides to reopen or end it.
void VmManager::watch_monitor(const std::shared_ptr<Instance>& vm) {
  std::shared_ptr<QmpConnection> qmp;
  {
    std::lock_guard lock(mutex_);
    qmp = vm->qmp;
  }
  if (!qmp) return;
  qmp->on_close([this, weak = std::weak_ptr<Instance>(vm)](const QmpStatus& status) {
    if (status.kind == QmpStatus::Kind::closed) return;  // we closed it
    if (auto vm = weak.lock()) post_event(vm, VmEvent::of(VmEventKind::monitor_lost));
  });
}

void VmManager::reopen_monitor(const std::shared_ptr<Instance>& vm) {
  // QEMU closes its monitor as it exits: give the exit a moment to show, so an ended VM is
  // reported as its exit (with its real reason), not as a monitor that could not be reopened.
  pollfd p{vm->watcher ? vm->watcher->process().pidfd() : -1, POLLIN, 0};
  if (p.fd >= 0 && ::poll(&p, 1, 1000) == 1) return;
  try {
    auto qmp = open_monitor(vm->record.run_dir, std::chrono::seconds(5));
    QmpCommands(*qmp).query_status();
    {
      std::lock_guard lock(mutex_);
      vm->qmp = std::move(qmp);
    }
    watch_monitor(vm);
    spdlog::info("vm {}: monitor reopened", vm->record.vmid);
    post_event(vm, VmEvent::of(VmEventKind::monitor_reopened));
  } catch (const std::exception& e) {
    spdlog::warn("vm {}: its monitor cannot be reopened ({}); ending it", vm->record.vmid, e.what());
    post_event(vm, VmEvent::of(VmEventKind::monitor_lost));
  }
}

void VmManager::cleanup(const std::shared_ptr<Instance>& vm) {
  std::shared_ptr<QmpConnection> qmp;
  bool failed_launch = false;
  {
    std::lock_guard lock(mutex_);
    vms_.erase(vm->record.vmid);
    if (auto it = by_user_.find(vm->record.user_id); it != by_user_.end() && it->second == vm->record.vmid)
      by_user_.erase(it);
    qmp = vm->qmp;
    failed_launch = vm->machine.launch_failed;
  }
  for (auto timer : {&Instance::grace, &Instance::expiry, &Instance::stop_timer}) cancel_timer(vm, timer);
  if (qmp) qmp->close();
  if (vm->output) vm->output->drain_now();
  if (failed_launch) {  // why, in QEMU's words; the server log only (it may name server paths)
    const auto tail = tail_of_file(vm->record.run_dir + "/qemu.log", kLogTailBytes);
    if (!tail.empty()) spdlog::warn("vm {}: QEMU's last output:\n{}", vm->record.vmid, tail);
  }
  if (vm->output) vm->output->close();
  publish(vm);  // no longer in vms_: removes its session
  if (placement_.release) {
    try {
      placement_.release(vm->record);
    } catch (const std::exception& e) {  // the node's reconcile drops the row later
      spdlog::warn("vm {}: cluster release failed: {}", vm->record.vmid, e.what());
    }
  }
  std::error_code ec;
  fs::remove_all(vm->record.run_dir, ec);
  cgroups_.remove(vm->record.vmid);
  spdlog::info("vm {}: cleaned up", vm->record.vmid);
  for (const auto& listener : end_listeners_) {
    try {
      listener(vm->record.vmid);
    } catch (const std::exception& e) {
      spdlog::warn("vm {}: an end listener failed: {}", vm->record.vmid, e.what());
    }
  }
}

bool VmManager::wait_gone(const std::shared_ptr<Instance>& vm, std::chrono::milliseconds timeout) {
  std::unique_lock lock(vm->gone_mutex);
  return vm->gone_cv.wait_for(lock, timeout, [&] { return vm->gone; });
}

}  // namespace vmshare::vm
