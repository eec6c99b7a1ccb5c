#pragma once
// Where a request about a user's VM is served (pure): here, or forwarded to the node that runs
// it. A request that came over the internal channel is never forwarded again (no loops).
#include <optional>
#include <string>

namespace vmshare::cluster {

struct RouteChoice {
  bool forward = false;
  std::string node;  // when forward
};

// owner_node: the node the shared table names for the VM, if any.
inline RouteChoice decide_route(const std::string& self, const std::optional<std::string>& owner_node,
                                bool arrived_internal) {
  if (arrived_internal || !owner_node || *owner_node == self) return {false, {}};
  return {true, *owner_node};
}

}  // namespace vmshare::cluster
