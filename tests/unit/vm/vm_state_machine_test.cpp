// The VM state machine as a table: every (state, event) pair with its next state, actions and
// verdict; then the header's invariants checked over every machine reachable from launching,
// and the exit reasons of whole lifecycles.
#include "vm/vm_state_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <tuple>

using namespace vmshare::vm;

namespace {

using S = VmState;
using E = VmEventKind;
using A = VmAction;
using V = Verdict;
using R = Refusal;
using Actions = std::vector<VmAction>;

// A machine as it is in `state` on the usual path there (stopping was asked by the user,
// terminating by a logout).
VmMachine at(S state, int viewers = 0) {
  VmMachine m;
  m.state = state;
  m.viewers = viewers;
  if (state == S::stopping) m.requested = ExitReason::stopped;
  if (state == S::terminating) m.requested = ExitReason::logout;
  if (state == S::gone) m.exit_reason = ExitReason::guest_poweroff;
  return m;
}
VmMachine killed(VmMachine m) {
  m.killed = true;
  return m;
}
VmMachine requested(VmMachine m, ExitReason why) {
  m.requested = why;
  return m;
}

// The event of each kind the table uses: a logout, a clean exit.
VmEvent event(E kind) {
  if (kind == E::terminate_requested) return VmEvent::terminate(ExitReason::logout);
  if (kind == E::qemu_exited) return VmEvent::exited(true, 0);
  return VmEvent::of(kind);
}

std::string names(const Actions& actions) {
  std::string out;
  for (auto a : actions) out += std::string(out.empty() ? "" : ",") + std::string(action_name(a));
  return out;
}

struct Row {
  VmMachine from;
  E event;
  S to;
  Actions actions;
  V verdict = V::applied;
  R refusal = R::none;
};

const Actions kGone{A::close_viewers, A::cleanup};
const Actions kExit{A::close_viewers, A::cleanup, A::record_exit};
const Actions kQuit{A::publish_session, A::cancel_grace, A::cancel_expiry, A::send_quit, A::arm_stop_timeout};
const Actions kKillNow{A::publish_session, A::cancel_grace, A::cancel_expiry, A::kill};
const Actions kPowerdown{A::publish_session, A::cancel_grace, A::cancel_expiry, A::send_powerdown, A::arm_stop_timeout};

Row invalid(S s, E e) { return {at(s), e, s, {}, V::invalid}; }
Row ignored(S s, E e) { return {at(s), e, s, {}, V::ignored}; }
Row refused(S s, E e, R r) { return {at(s), e, s, {}, V::refused, r}; }

// One row per (state, event) with no viewer, then the rows where the data changes the answer.
const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      {at(S::launching), E::launched, S::starting, {A::publish_session}},
      {at(S::launching), E::launch_failed, S::gone, kGone},
      invalid(S::launching, E::monitor_ready),
      invalid(S::launching, E::monitor_lost),
      invalid(S::launching, E::monitor_reopened),
      {at(S::launching), E::viewer_attached, S::launching, {}},
      invalid(S::launching, E::viewer_detached),
      invalid(S::launching, E::grace_expired),
      invalid(S::launching, E::session_expired),
      refused(S::launching, E::stop_requested, R::not_ready),
      {at(S::launching), E::terminate_requested, S::launching, {}},
      invalid(S::launching, E::stop_timeout),
      invalid(S::launching, E::qemu_exited),

      invalid(S::starting, E::launched),
      {at(S::starting), E::launch_failed, S::terminating, {A::kill}},
      {at(S::starting), E::monitor_ready, S::running, {A::publish_session, A::arm_expiry, A::arm_grace}},
      ignored(S::starting, E::monitor_lost),
      invalid(S::starting, E::monitor_reopened),
      {at(S::starting), E::viewer_attached, S::starting, {}},
      invalid(S::starting, E::viewer_detached),
      invalid(S::starting, E::grace_expired),
      invalid(S::starting, E::session_expired),
      refused(S::starting, E::stop_requested, R::not_ready),
      {at(S::starting), E::terminate_requested, S::terminating, {A::publish_session, A::kill}},
      invalid(S::starting, E::stop_timeout),
      {at(S::starting), E::qemu_exited, S::gone, kGone},

      invalid(S::running, E::launched),
      invalid(S::running, E::launch_failed),
      invalid(S::running, E::monitor_ready),
      {at(S::running), E::monitor_lost, S::monitor_lost, {A::reopen_monitor}},
      invalid(S::running, E::monitor_reopened),
      {at(S::running), E::viewer_attached, S::running, {A::cancel_grace}},
      invalid(S::running, E::viewer_detached),
      {at(S::running), E::grace_expired, S::terminating, kQuit},
      {at(S::running), E::session_expired, S::terminating, kQuit},
      {at(S::running), E::stop_requested, S::stopping, kPowerdown},
      {at(S::running), E::terminate_requested, S::terminating, kQuit},
      invalid(S::running, E::stop_timeout),
      {at(S::running), E::qemu_exited, S::gone, kExit},

      invalid(S::monitor_lost, E::launched),
      invalid(S::monitor_lost, E::launch_failed),
      invalid(S::monitor_lost, E::monitor_ready),
      {at(S::monitor_lost), E::monitor_lost, S::terminating, kKillNow},
      {at(S::monitor_lost), E::monitor_reopened, S::running, {}},
      {at(S::monitor_lost), E::viewer_attached, S::monitor_lost, {A::cancel_grace}},
      invalid(S::monitor_lost, E::viewer_detached),
      {at(S::monitor_lost), E::grace_expired, S::terminating, kKillNow},
      {at(S::monitor_lost), E::session_expired, S::terminating, kKillNow},
      refused(S::monitor_lost, E::stop_requested, R::not_ready),
      {at(S::monitor_lost), E::terminate_requested, S::terminating, kKillNow},
      invalid(S::monitor_lost, E::stop_timeout),
      {at(S::monitor_lost), E::qemu_exited, S::gone, kExit},

      invalid(S::stopping, E::launched),
      invalid(S::stopping, E::launch_failed),
      invalid(S::stopping, E::monitor_ready),
      ignored(S::stopping, E::monitor_lost),
      ignored(S::stopping, E::monitor_reopened),
      {at(S::stopping), E::viewer_attached, S::stopping, {}},
      invalid(S::stopping, E::viewer_detached),
      ignored(S::stopping, E::grace_expired),
      ignored(S::stopping, E::session_expired),
      refused(S::stopping, E::stop_requested, R::already_stopping),
      {at(S::stopping), E::terminate_requested, S::terminating, {A::send_quit, A::arm_stop_timeout}},
      {at(S::stopping), E::stop_timeout, S::terminating, {A::kill}},
      {at(S::stopping), E::qemu_exited, S::gone, kExit},

      invalid(S::terminating, E::launched),
      ignored(S::terminating, E::launch_failed),
      ignored(S::terminating, E::monitor_ready),
      ignored(S::terminating, E::monitor_lost),
      ignored(S::terminating, E::monitor_reopened),
      {at(S::terminating), E::viewer_attached, S::terminating, {}},
      invalid(S::terminating, E::viewer_detached),
      ignored(S::terminating, E::grace_expired),
      ignored(S::terminating, E::session_expired),
      refused(S::terminating, E::stop_requested, R::already_stopping),
      ignored(S::terminating, E::terminate_requested),
      {at(S::terminating), E::stop_timeout, S::terminating, {A::kill}},
      {at(S::terminating), E::qemu_exited, S::gone, kExit},

      ignored(S::gone, E::launched),
      ignored(S::gone, E::launch_failed),
      ignored(S::gone, E::monitor_ready),
      ignored(S::gone, E::monitor_lost),
      ignored(S::gone, E::monitor_reopened),
      refused(S::gone, E::viewer_attached, R::gone),
      ignored(S::gone, E::viewer_detached),
      ignored(S::gone, E::grace_expired),
      ignored(S::gone, E::session_expired),
      refused(S::gone, E::stop_requested, R::gone),
      ignored(S::gone, E::terminate_requested),
      ignored(S::gone, E::stop_timeout),
      ignored(S::gone, E::qemu_exited),

      // Viewers: the grace timer follows the count where it runs, nowhere else.
      {at(S::running, 1), E::viewer_attached, S::running, {}},
      {at(S::running, 1), E::viewer_detached, S::running, {A::arm_grace}},
      {at(S::running, 2), E::viewer_detached, S::running, {}},
      {at(S::running, 1), E::grace_expired, S::running, {}, V::ignored},
      {at(S::monitor_lost, 1), E::viewer_detached, S::monitor_lost, {A::arm_grace}},
      {at(S::monitor_lost, 1), E::grace_expired, S::monitor_lost, {}, V::ignored},
      {at(S::launching, 1), E::viewer_detached, S::launching, {}},
      {at(S::starting, 1), E::viewer_detached, S::starting, {}},
      {at(S::starting, 1), E::monitor_ready, S::running, {A::publish_session, A::arm_expiry}},
      {at(S::stopping, 1), E::viewer_detached, S::stopping, {}},
      {at(S::terminating, 1), E::viewer_detached, S::terminating, {}},
      {at(S::running, 1), E::qemu_exited, S::gone, kExit},
      // Ended while it was being made: it is killed as soon as it exists.
      {requested(at(S::launching), ExitReason::logout), E::launched, S::terminating, {A::kill}},
      {requested(at(S::launching), ExitReason::logout), E::terminate_requested, S::launching, {}, V::ignored},
      // One kill per VM.
      {killed(at(S::terminating)), E::stop_timeout, S::terminating, {}, V::ignored},
  };
  return rows;
}

TEST(VmStateMachine, Table) {
  for (const auto& row : table()) {
    SCOPED_TRACE(std::string(state_name(row.from.state)) + " (" + std::to_string(row.from.viewers) + " viewers) + " +
                 std::string(event_name(row.event)));
    const auto t = transition(row.from, event(row.event));
    EXPECT_EQ(state_name(t.next.state), state_name(row.to));
    EXPECT_EQ(names(t.actions), names(row.actions));
    EXPECT_EQ(verdict_name(t.verdict), verdict_name(row.verdict));
    EXPECT_EQ(t.refusal, row.refusal);
  }
}

TEST(VmStateMachine, TableCoversEveryStateAndEvent) {
  std::set<std::pair<S, E>> covered;
  for (const auto& row : table())
    if (row.from == at(row.from.state)) covered.insert({row.from.state, row.event});
  for (auto s : kAllVmStates)
    for (auto e : kAllVmEventKinds)
      EXPECT_TRUE(covered.count({s, e})) << state_name(s) << " + " << event_name(e) << " has no row";
  EXPECT_EQ(covered.size(), std::size(kAllVmStates) * std::size(kAllVmEventKinds));
}

// Every event variant the manager can send (requests with each reason, each kind of exit).
std::vector<VmEvent> all_events() {
  std::vector<VmEvent> out;
  for (auto e : kAllVmEventKinds) {
    if (e == E::terminate_requested) {
      for (auto why : {ExitReason::logout, ExitReason::no_viewer, ExitReason::session_limit, ExitReason::killed})
        out.push_back(VmEvent::terminate(why));
    } else if (e == E::qemu_exited) {
      out.push_back(VmEvent::exited(true, 0));
      out.push_back(VmEvent::exited(true, 1));
      out.push_back(VmEvent::exited(false, -1));
    } else {
      out.push_back(VmEvent::of(e));
    }
  }
  return out;
}

auto key(const VmMachine& m) {
  return std::make_tuple(m.state, m.viewers, m.requested, m.exit_reason, m.launch_failed, m.killed);
}

// Checks the header's per-transition invariants on every edge reachable from a new machine
// (viewers capped at 3), and returns how many machines were reached.
std::size_t explore() {
  std::set<decltype(key(VmMachine{}))> seen{key(VmMachine{})};
  std::deque<VmMachine> queue{VmMachine{}};
  while (!queue.empty()) {
    const VmMachine m = queue.front();
    queue.pop_front();
    for (const auto& e : all_events()) {
      if (e.kind == E::viewer_attached && m.viewers >= 3) continue;
      SCOPED_TRACE(std::string(state_name(m.state)) + " v=" + std::to_string(m.viewers) + " killed=" +
                   std::to_string(m.killed) + " + " + std::string(event_name(e.kind)));
      const auto t = transition(m, e);
      const auto& n = t.next;
      const auto count = [&](A a) { return std::count(t.actions.begin(), t.actions.end(), a); };
      const bool enters_gone = m.state != S::gone && n.state == S::gone;
      if (m.state == S::gone) {
        EXPECT_EQ(n, m) << "gone is terminal";
        EXPECT_TRUE(t.actions.empty());
      }
      EXPECT_EQ(count(A::cleanup), enters_gone ? 1 : 0);
      EXPECT_EQ(count(A::close_viewers), enters_gone ? 1 : 0);
      if (enters_gone) {
        EXPECT_EQ(t.actions[0], A::close_viewers);
        EXPECT_EQ(t.actions[1], A::cleanup);
        EXPECT_EQ(n.viewers, 0);
        EXPECT_EQ(n.exit_reason.has_value(), !n.launch_failed);
      }
      EXPECT_EQ(count(A::record_exit), enters_gone && n.exit_reason ? 1 : 0);
      if (t.verdict != V::applied) {
        EXPECT_EQ(n, m) << verdict_name(t.verdict) << " changes nothing";
        EXPECT_TRUE(t.actions.empty());
      }
      EXPECT_EQ(t.verdict == V::refused, t.refusal != R::none);
      if (t.verdict == V::refused) {
        EXPECT_TRUE(e.kind == E::stop_requested || e.kind == E::viewer_attached) << "only requests are refused";
      }
      if (count(A::kill)) {
        EXPECT_TRUE(!m.killed && n.killed) << "one kill per VM";
      }
      EXPECT_LE(count(A::kill), 1);
      if (m.requested) {
        EXPECT_EQ(n.requested, m.requested) << "the first reason wins";
      }
      if (count(A::arm_grace)) {
        EXPECT_TRUE(n.viewers == 0 && (n.state == S::running || n.state == S::monitor_lost));
      }
      EXPECT_GE(n.viewers, 0);
      if (seen.insert(key(n)).second) queue.push_back(n);
    }
  }
  return seen.size();
}

TEST(VmStateMachine, InvariantsHoldOnEveryReachableTransition) {
  const auto reached = explore();
  EXPECT_GT(reached, 50u);
}

TEST(VmStateMachine, EveryStateIsReachable) {
  std::set<S> states;
  std::deque<VmMachine> queue{VmMachine{}};
  std::set<decltype(key(VmMachine{}))> seen{key(VmMachine{})};
  while (!queue.empty()) {
    const auto m = queue.front();
    queue.pop_front();
    states.insert(m.state);
    for (const auto& e : all_events()) {
      if (e.kind == E::viewer_attached && m.viewers >= 2) continue;
      const auto n = transition(m, e).next;
      if (seen.insert(key(n)).second) queue.push_back(n);
    }
  }
  EXPECT_EQ(states.size(), std::size(kAllVmStates));
}

// Runs events from a new machine; each must be applied. Returns the final machine and every
// action on the way.
std::pair<VmMachine, Actions> run(std::initializer_list<VmEvent> events) {
  VmMachine m;
  Actions all;
  for (const auto& e : events) {
    auto t = transition(m, e);
    EXPECT_EQ(verdict_name(t.verdict), "applied") << state_name(m.state) << " + " << event_name(e.kind);
    all.insert(all.end(), t.actions.begin(), t.actions.end());
    m = t.next;
  }
  return {m, all};
}

const VmEvent kLaunched = VmEvent::of(E::launched), kReady = VmEvent::of(E::monitor_ready);

TEST(VmStateMachine, ExitReasonFromTheExitStatusWhenNothingWasAsked) {
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::exited(true, 0)}).first.exit_reason, ExitReason::guest_poweroff);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::exited(true, 1)}).first.exit_reason, ExitReason::crashed);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::exited(false, -1)}).first.exit_reason, ExitReason::killed);
}

TEST(VmStateMachine, ExitReasonOfWhatWeAsked) {
  const auto exit0 = VmEvent::exited(true, 0);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::of(E::stop_requested), exit0}).first.exit_reason, ExitReason::stopped);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::of(E::grace_expired), exit0}).first.exit_reason, ExitReason::no_viewer);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::of(E::session_expired), exit0}).first.exit_reason,
            ExitReason::session_limit);
  EXPECT_EQ(run({kLaunched, kReady, VmEvent::terminate(ExitReason::logout), exit0}).first.exit_reason,
            ExitReason::logout);
  // A guest that ignores the power button is killed, and still ends as the user's stop.
  const auto [m, actions] = run({kLaunched, kReady, VmEvent::of(E::stop_requested), VmEvent::of(E::stop_timeout),
                                 VmEvent::exited(true, -1)});
  EXPECT_EQ(m.exit_reason, ExitReason::stopped);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), A::kill), 1);
}

TEST(VmStateMachine, FirstReasonWins) {
  // A logout during an ACPI stop hurries it (quit) but it stays the user's stop.
  const auto [m, actions] = run({kLaunched, kReady, VmEvent::of(E::stop_requested),
                                 VmEvent::terminate(ExitReason::logout), VmEvent::exited(true, 0)});
  EXPECT_EQ(m.exit_reason, ExitReason::stopped);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), A::send_quit), 1);
}

TEST(VmStateMachine, LogoutDuringLaunchKillsItOnceItExists) {
  const auto [m, actions] =
      run({VmEvent::terminate(ExitReason::logout), kLaunched, VmEvent::exited(true, -1)});
  EXPECT_EQ(m.state, S::gone);
  EXPECT_EQ(m.exit_reason, ExitReason::logout);
  EXPECT_EQ(names(actions), "kill,close_viewers,cleanup,record_exit");
}

TEST(VmStateMachine, FailedLaunchesAreNoExits) {
  auto [before_spawn, a1] = run({VmEvent::of(E::launch_failed)});
  EXPECT_EQ(before_spawn.state, S::gone);
  EXPECT_FALSE(before_spawn.exit_reason);
  EXPECT_EQ(names(a1), "close_viewers,cleanup");

  auto [after_spawn, a2] = run({kLaunched, VmEvent::of(E::launch_failed), VmEvent::exited(true, -1)});
  EXPECT_EQ(after_spawn.state, S::gone);
  EXPECT_FALSE(after_spawn.exit_reason);
  EXPECT_EQ(names(a2), "publish_session,kill,close_viewers,cleanup");

  auto [died, a3] = run({kLaunched, VmEvent::exited(true, 1)});
  EXPECT_FALSE(died.exit_reason);
  EXPECT_EQ(names(a3), "publish_session,close_viewers,cleanup");
}

TEST(VmStateMachine, ViewerComingBackInTimeKeepsTheVm) {
  auto [m, actions] = run({kLaunched, kReady, VmEvent::of(E::viewer_attached), VmEvent::of(E::viewer_detached),
                           VmEvent::of(E::viewer_attached)});
  EXPECT_EQ(m.state, S::running);
  EXPECT_EQ(m.viewers, 1);
  EXPECT_EQ(names(actions), "publish_session,publish_session,arm_expiry,arm_grace,cancel_grace,arm_grace,cancel_grace");
  // The grace timer that fires anyway (a race with the attach) changes nothing.
  const auto late = transition(m, VmEvent::of(E::grace_expired));
  EXPECT_EQ(late.verdict, V::ignored);
  EXPECT_EQ(late.next, m);
}

TEST(VmStateMachine, MonitorLossAndRecovery) {
  auto [m, actions] = run({kLaunched, kReady, VmEvent::of(E::monitor_lost), VmEvent::of(E::monitor_reopened)});
  EXPECT_EQ(m.state, S::running);
  EXPECT_EQ(public_status(S::monitor_lost), "running");
  // A reopen that fails too ends the VM with a kill: there is no monitor to ask.
  auto [lost, a2] = run({kLaunched, kReady, VmEvent::of(E::monitor_lost), VmEvent::of(E::monitor_lost),
                         VmEvent::exited(true, -1)});
  EXPECT_EQ(lost.exit_reason, ExitReason::killed);
  EXPECT_EQ(std::count(a2.begin(), a2.end(), A::kill), 1);
  EXPECT_EQ(std::count(a2.begin(), a2.end(), A::send_quit), 0);
}

TEST(VmStateMachine, SecondStopIsRefusedForThe409) {
  auto [m, _] = run({kLaunched, kReady, VmEvent::of(E::stop_requested)});
  const auto t = transition(m, VmEvent::of(E::stop_requested));
  EXPECT_EQ(t.verdict, V::refused);
  EXPECT_EQ(t.refusal, R::already_stopping);
  EXPECT_EQ(refusal_detail(t.refusal), "The VM is already stopping");
}

TEST(VmStateMachine, NamesAreDistinctAndKnown) {
  std::set<std::string_view> states, events, actions;
  for (auto s : kAllVmStates) states.insert(state_name(s));
  for (auto e : kAllVmEventKinds) events.insert(event_name(e));
  for (int a = 0; a <= static_cast<int>(A::record_exit); ++a) actions.insert(action_name(static_cast<A>(a)));
  EXPECT_EQ(states.size(), std::size(kAllVmStates));
  EXPECT_EQ(events.size(), std::size(kAllVmEventKinds));
  EXPECT_EQ(actions.size(), static_cast<std::size_t>(A::record_exit) + 1);
  EXPECT_FALSE(states.count("unknown") || events.count("unknown") || actions.count("unknown"));
  for (auto s : kAllVmStates) EXPECT_NE(public_status(s), "unknown");
  for (auto r : {R::not_ready, R::already_stopping, R::gone}) EXPECT_FALSE(refusal_detail(r).empty());
  EXPECT_TRUE(refusal_detail(R::none).empty());
}

}  // namespace
