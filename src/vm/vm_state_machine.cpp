#include "vm/vm_state_machine.h"

#include <utility>

namespace vmshare::vm {

namespace {

using K = VmEventKind;
using A = VmAction;

VmTransition applied(VmMachine next, std::vector<VmAction> actions = {}) {
  return {std::move(next), std::move(actions), Verdict::applied, Refusal::none};
}

VmTransition unchanged(const VmMachine& m, Verdict verdict, Refusal refusal = Refusal::none) {
  return {m, {}, verdict, refusal};
}

// Without a request of ours, the exit status says how it ended.
ExitReason reason_of_exit(const VmMachine& m, const VmEvent& e) {
  if (m.requested) return *m.requested;
  if (e.exit_known && e.exit_code == 0) return ExitReason::guest_poweroff;
  return e.exit_known ? ExitReason::crashed : ExitReason::killed;
}

// The one way into gone: consoles closed, one cleanup, the exit counted if the VM ran.
VmTransition to_gone(VmMachine m, std::optional<ExitReason> reason) {
  m.state = VmState::gone;
  m.viewers = 0;
  m.exit_reason = reason;
  std::vector<VmAction> actions{A::close_viewers, A::cleanup};
  if (reason) actions.push_back(A::record_exit);
  return applied(std::move(m), std::move(actions));
}

VmTransition exited(const VmMachine& m, const VmEvent& e) {
  return to_gone(m, m.launch_failed ? std::nullopt : std::optional(reason_of_exit(m, e)));
}

bool grace_runs_in(VmState s) { return s == VmState::running || s == VmState::monitor_lost; }

// Consoles are counted in every live state; the grace timer follows the count where it runs.
VmTransition viewer_event(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  if (e.kind == K::viewer_attached) {
    ++n.viewers;
    if (grace_runs_in(m.state) && m.viewers == 0) return applied(n, {A::cancel_grace});
    return applied(n);
  }
  if (m.viewers == 0) return unchanged(m, Verdict::invalid);
  --n.viewers;
  if (grace_runs_in(m.state) && n.viewers == 0) return applied(n, {A::arm_grace});
  return applied(n);
}

// Running or monitor_lost, asked to end now: quit through the monitor (kill after the stop
// timeout), or kill at once when there is no monitor to ask.
VmTransition end_now(const VmMachine& m, ExitReason reason, bool monitor_up) {
  VmMachine n = m;
  n.state = VmState::terminating;
  if (!n.requested) n.requested = reason;
  if (monitor_up) return applied(n, {A::publish_session, A::cancel_grace, A::cancel_expiry, A::send_quit, A::arm_stop_timeout});
  n.killed = true;
  return applied(n, {A::publish_session, A::cancel_grace, A::cancel_expiry, A::kill});
}

VmTransition from_launching(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::launched:
      if (m.requested) {  // ended while it was being made: it never starts
        n.state = VmState::terminating;
        n.killed = true;
        return applied(n, {A::kill});
      }
      n.state = VmState::starting;
      return applied(n, {A::publish_session});
    case K::launch_failed:
      n.launch_failed = true;
      return to_gone(n, std::nullopt);
    case K::terminate_requested:
      if (m.requested) return unchanged(m, Verdict::ignored);
      n.requested = e.reason;  // acted on at `launched`
      return applied(n);
    case K::stop_requested: return unchanged(m, Verdict::refused, Refusal::not_ready);
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_starting(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::monitor_ready:
      n.state = VmState::running;
      if (m.viewers == 0) return applied(n, {A::publish_session, A::arm_expiry, A::arm_grace});
      return applied(n, {A::publish_session, A::arm_expiry});
    case K::launch_failed:
      n.state = VmState::terminating;
      n.launch_failed = n.killed = true;
      return applied(n, {A::kill});
    case K::qemu_exited:  // died during start-up: a failed launch, not an exit
      n.launch_failed = true;
      return to_gone(n, std::nullopt);
    case K::terminate_requested:  // no monitor yet to ask
      n.state = VmState::terminating;
      if (!n.requested) n.requested = e.reason;
      n.killed = true;
      return applied(n, {A::publish_session, A::kill});
    case K::stop_requested: return unchanged(m, Verdict::refused, Refusal::not_ready);
    case K::monitor_lost: return unchanged(m, Verdict::ignored);  // the launcher retries or fails
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_running(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::stop_requested:
      n.state = VmState::stopping;
      n.requested = ExitReason::stopped;
      return applied(n, {A::publish_session, A::cancel_grace, A::cancel_expiry, A::send_powerdown, A::arm_stop_timeout});
    case K::terminate_requested: return end_now(m, e.reason, true);
    case K::grace_expired:
      if (m.viewers > 0) return unchanged(m, Verdict::ignored);  // someone came back in time
      return end_now(m, ExitReason::no_viewer, true);
    case K::session_expired: return end_now(m, ExitReason::session_limit, true);
    case K::monitor_lost:
      n.state = VmState::monitor_lost;
      return applied(n, {A::reopen_monitor});
    case K::qemu_exited: return exited(m, e);
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_monitor_lost(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::monitor_reopened:
      n.state = VmState::running;  // its timers kept running meanwhile
      return applied(n);
    case K::monitor_lost: return end_now(m, ExitReason::killed, false);  // the reopen failed
    case K::terminate_requested: return end_now(m, e.reason, false);
    case K::grace_expired:
      if (m.viewers > 0) return unchanged(m, Verdict::ignored);
      return end_now(m, ExitReason::no_viewer, false);
    case K::session_expired: return end_now(m, ExitReason::session_limit, false);
    case K::stop_requested: return unchanged(m, Verdict::refused, Refusal::not_ready);  // no monitor for ACPI
    case K::qemu_exited: return exited(m, e);
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_stopping(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::qemu_exited: return exited(m, e);
    case K::stop_timeout:  // the guest ignored the power button
      n.state = VmState::terminating;
      n.killed = true;
      return applied(n, {A::kill});
    case K::terminate_requested:  // hurry it up; the stop stays the reason
      n.state = VmState::terminating;
      return applied(n, {A::send_quit, A::arm_stop_timeout});
    case K::stop_requested: return unchanged(m, Verdict::refused, Refusal::already_stopping);
    case K::grace_expired:
    case K::session_expired:
    case K::monitor_lost:
    case K::monitor_reopened: return unchanged(m, Verdict::ignored);  // the stop timer settles it
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_terminating(const VmMachine& m, const VmEvent& e) {
  VmMachine n = m;
  switch (e.kind) {
    case K::qemu_exited: return exited(m, e);
    case K::stop_timeout:
      if (m.killed) return unchanged(m, Verdict::ignored);
      n.killed = true;
      return applied(n, {A::kill});
    case K::stop_requested: return unchanged(m, Verdict::refused, Refusal::already_stopping);
    case K::terminate_requested:
    case K::grace_expired:
    case K::session_expired:
    case K::monitor_ready:  // a start-up that was overtaken
    case K::launch_failed:
    case K::monitor_lost:
    case K::monitor_reopened: return unchanged(m, Verdict::ignored);
    case K::viewer_attached:
    case K::viewer_detached: return viewer_event(m, e);
    default: return unchanged(m, Verdict::invalid);
  }
}

VmTransition from_gone(const VmMachine& m, const VmEvent& e) {
  if (e.kind == K::stop_requested || e.kind == K::viewer_attached)
    return unchanged(m, Verdict::refused, Refusal::gone);
  return unchanged(m, Verdict::ignored);  // terminal: late timers, replies and detaches
}

}  // namespace

VmTransition transition(const VmMachine& machine, const VmEvent& event) {
  switch (machine.state) {
    case VmState::launching: return from_launching(machine, event);
    case VmState::starting: return from_starting(machine, event);
    case VmState::running: return from_running(machine, event);
    case VmState::monitor_lost: return from_monitor_lost(machine, event);
    case VmState::stopping: return from_stopping(machine, event);
    case VmState::terminating: return from_terminating(machine, event);
    case VmState::gone: return from_gone(machine, event);
  }
  return unchanged(machine, Verdict::invalid);
}

std::string_view state_name(VmState state) {
  switch (state) {
    case VmState::launching: return "launching";
    case VmState::starting: return "starting";
    case VmState::running: return "running";
    case VmState::monitor_lost: return "monitor_lost";
    case VmState::stopping: return "stopping";
    case VmState::terminating: return "terminating";
    case VmState::gone: return "gone";
  }
  return "unknown";
}

std::string_view event_name(VmEventKind kind) {
  switch (kind) {
    case K::launched: return "launched";
    case K::launch_failed: return "launch_failed";
    case K::monitor_ready: return "monitor_ready";
    case K::monitor_lost: return "monitor_lost";
    case K::monitor_reopened: return "monitor_reopened";
    case K::viewer_attached: return "viewer_attached";
    case K::viewer_detached: return "viewer_detached";
    case K::grace_expired: return "grace_expired";
    case K::session_expired: return "session_expired";
    case K::stop_requested: return "stop_requested";
    case K::terminate_requested: return "terminate_requested";
    case K::stop_timeout: return "stop_timeout";
    case K::qemu_exited: return "qemu_exited";
  }
  return "unknown";
}

std::string_view action_name(VmAction action) {
  switch (action) {
    case A::publish_session: return "publish_session";
    case A::arm_grace: return "arm_grace";
    case A::cancel_grace: return "cancel_grace";
    case A::arm_expiry: return "arm_expiry";
    case A::cancel_expiry: return "cancel_expiry";
    case A::send_powerdown: return "send_powerdown";
    case A::send_quit: return "send_quit";
    case A::arm_stop_timeout: return "arm_stop_timeout";
    case A::kill: return "kill";
    case A::reopen_monitor: return "reopen_monitor";
    case A::close_viewers: return "close_viewers";
    case A::cleanup: return "cleanup";
    case A::record_exit: return "record_exit";
  }
  return "unknown";
}

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::applied: return "applied";
    case Verdict::ignored: return "ignored";
    case Verdict::refused: return "refused";
    case Verdict::invalid: return "invalid";
  }
  return "unknown";
}

std::string_view public_status(VmState state) {
  switch (state) {
    case VmState::launching:
    case VmState::starting: return "starting";
    case VmState::running:
    case VmState::monitor_lost: return "running";  // the guest runs; only our monitor is reconnecting
    case VmState::stopping:
    case VmState::terminating: return "stopping";
    case VmState::gone: return "gone";
  }
  return "unknown";
}

std::string_view refusal_detail(Refusal refusal) {
  switch (refusal) {
    case Refusal::none: return "";
    case Refusal::not_ready: return "The VM is not ready for that yet; please try again in a moment";
    case Refusal::already_stopping: return "The VM is already stopping";
    case Refusal::gone: return "No such VM";
  }
  return "";
}

}  // namespace vmshare::vm
