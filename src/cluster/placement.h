#pragma once
// Which node runs a new VM (pure): the nodes as the shared table shows them, the launch's
// needs, and an optional node it must run on (the one holding its snapshot or ISO).
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace vmshare::cluster {

struct NodeState {
  std::string id;
  std::string internal_url;
  int max_vms = 0;
  std::int64_t memory_mb = 0;
  int running_vms = 0;
  std::int64_t used_memory_mb = 0;
  bool draining = false;
  bool alive = true;  // heartbeat within VMSHARE_NODE_DEAD_S and not marked dead
  int free_slots() const { return max_vms - running_vms; }
  std::int64_t free_memory_mb() const { return memory_mb - used_memory_mb; }
};

struct PlacementRequest {
  std::int64_t memory_mb = 0;          // what the VM needs (guest RAM)
  std::optional<std::string> only_on;  // its snapshot or ISO lives there
};

struct Placed {
  std::string node;
};
struct Refused {
  std::string reason;  // for the user: no node can take it
};
using Placement = std::variant<Placed, Refused>;

// The live, undrained node with a free slot and enough memory that has the most free memory
// (then the most free slots, then the smaller id, so equal nodes are chosen the same way).
Placement plan_placement(const std::vector<NodeState>& nodes, const PlacementRequest& request);

}  // namespace vmshare::cluster
