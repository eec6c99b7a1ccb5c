#pragma once
// The life of one VM as a pure state machine: transition(machine, event) -> (machine, actions).
// No I/O, no clocks, no locks: the VM manager feeds it events (from requests, timers, the exit
// watcher and the monitor), performs the returned actions in order, and keeps the new machine.
//
// The main paths (every other pair is in vm_state_machine.cpp and its test table):
//   launching -launched-> starting -monitor_ready-> running -stop_requested-> stopping
//   running -monitor_lost-> monitor_lost -monitor_reopened-> running
//   running -grace_expired (no viewer) | session_expired | terminate_requested-> terminating
//   stopping -stop_timeout-> terminating (kill);  any live state -qemu_exited-> gone
//   launching -launch_failed-> gone;  starting -launch_failed-> terminating (kill) -> gone
//
// Invariants (vm_state_machine_test.cpp checks each one over every (state, event) pair):
// - Every (state, event) pair has a defined result; none is undefined or throws.
// - `gone` is terminal: no event leaves it and none there yields an action.
// - Entering `gone` yields close_viewers then cleanup, exactly once per VM (cleanup appears in
//   no other transition), then record_exit when the VM ran and ended (exit_reason set). A launch
//   that failed is no exit: it ends with exit_reason empty and no record_exit.
// - Only requests are refused (stop_requested, viewer_attached); a refusal changes nothing and
//   yields no action. Refusal::already_stopping and Refusal::not_ready map to 409,
//   Refusal::gone to 404 (refusal_detail gives the user's sentence).
// - Events that come late (a timer or a reply racing a state change) are `ignored`; events the
//   caller should never send in that state (launched twice, a detach without viewers, an exit
//   before any process) are `invalid`: both change nothing and yield no action, and the caller
//   logs the latter as a bug.
// - The first reason to end a VM wins (`requested`): a logout during an ACPI stop still ends as
//   `stopped`. Without a request the exit status decides: exit code 0 guest_poweroff, another
//   known status crashed, unknown (not our child) killed.
// - viewers counts attached consoles in every state but gone; the disconnect grace runs only
//   in running/monitor_lost and only while viewers == 0.
// - kill is sent at most once per VM. A failed send_powerdown/send_quit needs no event: the
//   stop timer armed with it ends in kill.
#include <optional>
#include <string_view>
#include <vector>

#include "vm/exit_reason.h"

namespace vmshare::vm {

enum class VmState {
  launching,     // slot reserved, folder and disk being made; no process yet
  starting,      // QEMU spawned, its monitor not yet answering
  running,       // monitor up: the VM is usable
  monitor_lost,  // QEMU still runs but its monitor broke; reopening it
  stopping,      // ACPI power-down sent, waiting for the guest (stop timeout armed)
  terminating,   // quit or SIGKILL sent, waiting for QEMU to exit
  gone,          // exited and cleaned up (terminal)
};

enum class VmEventKind {
  launched,             // QEMU spawned
  launch_failed,        // the launch gave up (folder, image, spawn or monitor)
  monitor_ready,        // first monitor connection answered
  monitor_lost,         // the monitor connection broke (or a reopen attempt failed)
  monitor_reopened,     // a new monitor connection answers again
  viewer_attached,      // a console opened
  viewer_detached,      // a console closed
  grace_expired,        // the disconnect grace timer fired
  session_expired,      // the session limit timer fired
  stop_requested,       // POST /vm/stop: ACPI power-down, forced after the stop timeout
  terminate_requested,  // logout, the timers or shutdown: end it now (carries `reason`)
  stop_timeout,         // the stop timer fired: the guest or QEMU ignored us
  qemu_exited,          // the exit watcher reaped QEMU (carries the exit status)
};

struct VmEvent {
  VmEventKind kind;
  ExitReason reason = ExitReason::killed;  // terminate_requested only
  bool exit_known = false;                 // qemu_exited only: the status was reaped
  int exit_code = -1;                      // qemu_exited only: >= 0 when it exited normally

  static VmEvent of(VmEventKind kind) { return VmEvent{kind}; }
  static VmEvent terminate(ExitReason why) { return VmEvent{VmEventKind::terminate_requested, why}; }
  static VmEvent exited(bool known, int code) { return VmEvent{VmEventKind::qemu_exited, ExitReason::killed, known, code}; }
};

enum class VmAction {
  publish_session,   // write the VM's public status to the session store
  arm_grace,         // (re)start the disconnect grace timer
  cancel_grace,
  arm_expiry,        // start the session limit timer (expires_at)
  cancel_expiry,
  send_powerdown,    // QMP system_powerdown
  send_quit,         // QMP quit
  arm_stop_timeout,  // (re)start the stop timer; fires stop_timeout. Its length follows the state
                     // entered: stopping, the guest's ACPI time; terminating, a few s for quit
  kill,              // SIGKILL the QEMU process (group)
  reopen_monitor,    // open a new QMP connection; report monitor_reopened or monitor_lost
  close_viewers,     // close every console with "VM stopped"
  cleanup,           // cancel timers, close the monitor, drop the session, remove files and cgroup
  record_exit,       // count the exit under machine.exit_reason (metrics, log)
};

enum class Verdict {
  applied,  // the event changed the machine (and/or yielded actions)
  ignored,  // late or redundant: nothing to do
  refused,  // a request that cannot be honoured now: see Refusal
  invalid,  // the caller should never send this event in this state: nothing done, log it
};

enum class Refusal {
  none,
  not_ready,         // 409: still starting, or its monitor is reconnecting
  already_stopping,  // 409
  gone,              // 404
};

// The state plus what the transitions need to remember.
struct VmMachine {
  VmState state = VmState::launching;
  int viewers = 0;
  std::optional<ExitReason> requested;    // why we asked it to end; the first request wins
  std::optional<ExitReason> exit_reason;  // set on entering gone after a run
  bool launch_failed = false;             // the launch gave up: its exit is not counted
  bool killed = false;                    // kill was sent

  bool operator==(const VmMachine&) const = default;
};

struct VmTransition {
  VmMachine next;
  std::vector<VmAction> actions;  // perform in this order
  Verdict verdict = Verdict::applied;
  Refusal refusal = Refusal::none;
};

VmTransition transition(const VmMachine& machine, const VmEvent& event);

// For logs.
std::string_view state_name(VmState state);
std::string_view event_name(VmEventKind kind);
std::string_view action_name(VmAction action);
std::string_view verdict_name(Verdict verdict);
// What /vm/status and the session store show: starting | running | stopping | gone.
std::string_view public_status(VmState state);
// A user-facing sentence for a refusal (empty for Refusal::none).
std::string_view refusal_detail(Refusal refusal);

inline constexpr VmState kAllVmStates[] = {VmState::launching, VmState::starting,    VmState::running,
                                           VmState::monitor_lost, VmState::stopping, VmState::terminating,
                                           VmState::gone};
inline constexpr VmEventKind kAllVmEventKinds[] = {
    VmEventKind::launched,        VmEventKind::launch_failed,   VmEventKind::monitor_ready,
    VmEventKind::monitor_lost,    VmEventKind::monitor_reopened, VmEventKind::viewer_attached,
    VmEventKind::viewer_detached, VmEventKind::grace_expired,   VmEventKind::session_expired,
    VmEventKind::stop_requested,  VmEventKind::terminate_requested, VmEventKind::stop_timeout,
    VmEventKind::qemu_exited};

}  // namespace vmshare::vm
