#include "cluster/forwarder.h"
#include "cluster/placement.h"
#include "cluster/route_decision.h"

#include <gtest/gtest.h>

using namespace vmshare::cluster;

namespace {
NodeState node(std::string id, int max, int running, std::int64_t mem, std::int64_t used) {
  NodeState n;
  n.id = std::move(id);
  n.max_vms = max;
  n.running_vms = running;
  n.memory_mb = mem;
  n.used_memory_mb = used;
  return n;
}
std::string placed(const Placement& p) {
  auto* ok = std::get_if<Placed>(&p);
  return ok ? ok->node : "refused: " + std::get<Refused>(p).reason;
}
}  // namespace

TEST(Placement, PicksTheNodeWithTheMostFreeCapacity) {
  std::vector<NodeState> nodes{node("a", 4, 1, 8000, 4000), node("b", 4, 3, 8000, 1000), node("c", 4, 0, 8000, 2000)};
  EXPECT_EQ(placed(plan_placement(nodes, {512, {}})), "b");  // most free memory
  nodes[1].running_vms = 4;                                    // b full
  EXPECT_EQ(placed(plan_placement(nodes, {512, {}})), "c");
}

TEST(Placement, TiesGoToTheSmallerIdThenSlots) {
  std::vector<NodeState> nodes{node("b", 4, 1, 8000, 0), node("a", 4, 1, 8000, 0)};
  EXPECT_EQ(placed(plan_placement(nodes, {512, {}})), "a");
  nodes[0].running_vms = 0;
  EXPECT_EQ(placed(plan_placement(nodes, {512, {}})), "b");
}

TEST(Placement, SkipsDeadDrainingFullAndSmallNodes) {
  std::vector<NodeState> nodes{node("a", 4, 0, 8000, 0), node("b", 4, 0, 8000, 0), node("c", 4, 4, 8000, 0),
                               node("d", 4, 0, 1000, 800)};
  nodes[0].alive = false;
  nodes[1].draining = true;
  EXPECT_EQ(placed(plan_placement(nodes, {512, {}})), "refused: Every node is at its VM limit; please try again later");
  EXPECT_EQ(placed(plan_placement(nodes, {128, {}})), "d");
  EXPECT_EQ(placed(plan_placement({}, {128, {}})), "refused: Every node is at its VM limit; please try again later");
}

TEST(Placement, AFileTiesTheLaunchToItsNode) {
  std::vector<NodeState> nodes{node("a", 4, 0, 8000, 0), node("b", 4, 1, 8000, 7000)};
  EXPECT_EQ(placed(plan_placement(nodes, {512, std::string("b")})), "b");
  nodes[1].running_vms = 4;
  EXPECT_EQ(placed(plan_placement(nodes, {512, std::string("b")})),
            "refused: The node holding your file is at its VM limit; please try again later");
  nodes[1].alive = false;
  EXPECT_EQ(placed(plan_placement(nodes, {512, std::string("b")})),
            "refused: The node holding your file is unavailable; please try again later");
  EXPECT_EQ(placed(plan_placement(nodes, {512, std::string("gone")})),
            "refused: The node holding your file is unavailable; please try again later");
}

TEST(RouteDecision, ForwardsOnlyPublicRequestsForAnotherNodesVm) {
  EXPECT_FALSE(decide_route("a", std::nullopt, false).forward);
  EXPECT_FALSE(decide_route("a", std::string("a"), false).forward);
  EXPECT_FALSE(decide_route("a", std::string("b"), true).forward);  // never twice: no loops
  auto r = decide_route("a", std::string("b"), false);
  EXPECT_TRUE(r.forward);
  EXPECT_EQ(r.node, "b");
}

TEST(Forwarder, InternalUrlsAndHeaderRules) {
  auto p = parse_internal_url("http://127.0.0.2:9001/");
  EXPECT_EQ(p.host, "127.0.0.2");
  EXPECT_EQ(p.port, "9001");
  EXPECT_EQ(parse_internal_url("http://[::1]:9").host, "::1");
  EXPECT_EQ(parse_internal_url("http://node3").port, "80");
  EXPECT_THROW(parse_internal_url("https://x:1"), std::invalid_argument);
  vmshare::http::HeaderMap in{{"Cookie", "c"}, {"Connection", "Upgrade"}, {"X-Vmshare-Node", "evil"}, {"Host", "h"}};
  auto out = forwarded_request_headers(in);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(passes_back("Set-Cookie"));
  EXPECT_TRUE(passes_back("Content-Disposition"));
  EXPECT_FALSE(passes_back("Content-Length"));
  EXPECT_FALSE(passes_back("x-vmshare-signature"));
}
