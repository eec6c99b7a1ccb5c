// plan_session_sync: after session store writes were lost in an outage, what brings this node's
// sessions back in line with the VMs it runs (and never touches another node's).
#include "vm/session_sync.h"

#include <gtest/gtest.h>

using namespace vmshare;
using vmshare::vm::plan_session_sync;

namespace {

store::VmSession session(const std::string& vmid, const std::string& node, const std::string& status = "running") {
  store::VmSession s;
  s.vmid = vmid;
  s.user_id = 7;
  s.os_type = "tiny";
  s.pid = 4242;
  s.status = status;
  s.started_at = 1000;
  s.expires_at = 4600;
  s.node = node;
  return s;
}

using Ids = std::vector<std::string>;

TEST(SessionSync, InLineMeansNothingToDo) {
  const auto a = session("a", "n1"), b = session("b", "n1");
  const auto plan = plan_session_sync({a, b}, {b, a}, "n1");
  EXPECT_EQ(plan.remove, Ids{});
  EXPECT_EQ(plan.put, Ids{});
}

TEST(SessionSync, VmEndedWhileTheStoreWasDownLosesItsSession) {
  const auto plan = plan_session_sync({session("gone", "n1"), session("live", "n1")}, {session("live", "n1")}, "n1");
  EXPECT_EQ(plan.remove, Ids{"gone"});
  EXPECT_EQ(plan.put, Ids{});
}

TEST(SessionSync, VmStartedWhileTheStoreWasDownGetsItsSession) {
  const auto plan = plan_session_sync({}, {session("new", "n1")}, "n1");
  EXPECT_EQ(plan.remove, Ids{});
  EXPECT_EQ(plan.put, Ids{"new"});
}

TEST(SessionSync, OutdatedSessionIsRewritten) {
  // Its "running" was lost: the store still says "starting".
  EXPECT_EQ(plan_session_sync({session("a", "n1", "starting")}, {session("a", "n1")}, "n1").put, Ids{"a"});
  auto moved = session("a", "n1");
  moved.pid = 99;
  EXPECT_EQ(plan_session_sync({session("a", "n1")}, {moved}, "n1").put, Ids{"a"});
  auto later = session("a", "n1");
  later.expires_at += 60;
  EXPECT_EQ(plan_session_sync({session("a", "n1")}, {later}, "n1").put, Ids{"a"});
}

TEST(SessionSync, FieldsBeyondThePlatformsAreNotCompared) {
  auto stored = session("a", "n1");
  stored.extra["note"] = "set by another service";
  EXPECT_EQ(plan_session_sync({stored}, {session("a", "n1")}, "n1").put, Ids{});
}

TEST(SessionSync, OtherNodesSessionsAreLeftAlone) {
  const auto plan = plan_session_sync({session("theirs", "n2"), session("ours", "n1")}, {}, "n1");
  EXPECT_EQ(plan.remove, Ids{"ours"});
  EXPECT_EQ(plan.put, Ids{});
}

}  // namespace
