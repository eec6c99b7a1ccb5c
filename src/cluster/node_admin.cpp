#include "cluster/node_admin.h"

#include <iostream>

#include <fmt/format.h>

#include "cluster/cluster_store.h"
#include "store/user_store.h"

namespace vmshare::cluster {

namespace {
ClusterStore open_store(const Config& config) {
  if (config.database_url.empty()) throw ConfigError("DATABASE_URL: the node commands need the cluster's PostgreSQL");
  store::make_user_store(config)->count_users();  // the schema is current (migration 5)
  return ClusterStore(config.database_url, 1);
}
}  // namespace

int admin_node_list(const Config& config, std::ostream& out) {
  auto store = open_store(config);
  out << fmt::format("{:<20} {:<8} {:>5} {:>9} {:>11} {:>8}  {}\n", "node", "state", "vms", "max_vms", "memory_mb",
                     "seen_s", "internal_url");
  for (const auto& n : store.nodes(config.cluster.node_dead_s)) {
    const char* state = n.dead ? "dead" : !n.state.alive ? "silent" : n.state.draining ? "draining" : "up";
    out << fmt::format("{:<20} {:<8} {:>5} {:>9} {:>11} {:>8}  {}\n", n.state.id, state, n.state.running_vms,
                       n.state.max_vms, fmt::format("{}/{}", n.state.used_memory_mb, n.state.memory_mb),
                       n.heartbeat_age_s, n.state.internal_url);
  }
  return 0;
}

int admin_node_drain(const Config& config, const std::string& node, bool draining) {
  auto store = open_store(config);
  if (!store.set_draining(node, draining)) {
    std::cerr << "vmshare: no node " << node << "\n";
    return 1;
  }
  std::cout << "node " << node << (draining ? " drained: it takes no new VM\n" : " takes new VMs again\n");
  return 0;
}

int admin_node_forget(const Config& config, const std::string& node) {
  auto store = open_store(config);
  if (!store.forget(node, config.cluster.node_dead_s)) {
    std::cerr << "vmshare: no node " << node << " that is dead (only a node silent for VMSHARE_NODE_DEAD_S can be forgotten)\n";
    return 1;
  }
  std::cout << "node " << node << " forgotten\n";
  return 0;
}

}  // namespace vmshare::cluster
