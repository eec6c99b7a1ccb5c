#include "cluster/placement.h"

#include <tuple>

namespace vmshare::cluster {

namespace {
bool can_take(const NodeState& n, const PlacementRequest& r) {
  return n.alive && !n.draining && n.free_slots() > 0 && n.free_memory_mb() >= r.memory_mb;
}

// Higher is better.
auto score(const NodeState& n) { return std::make_tuple(n.free_memory_mb(), n.free_slots()); }
}  // namespace

Placement plan_placement(const std::vector<NodeState>& nodes, const PlacementRequest& request) {
  const NodeState* best = nullptr;
  for (const auto& n : nodes) {
    if (request.only_on && n.id != *request.only_on) continue;
    if (!can_take(n, request)) continue;
    if (!best || score(n) > score(*best) || (score(n) == score(*best) && n.id < best->id)) best = &n;
  }
  if (best) return Placed{best->id};
  if (request.only_on) {
    for (const auto& n : nodes)
      if (n.id == *request.only_on && n.alive && !n.draining)
        return Refused{"The node holding your file is at its VM limit; please try again later"};
    return Refused{"The node holding your file is unavailable; please try again later"};
  }
  return Refused{"Every node is at its VM limit; please try again later"};
}

}  // namespace vmshare::cluster
