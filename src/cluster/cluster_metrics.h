#pragma once
// /metrics in a cluster: this node's figures carry its id (vmshare_node_vms{node}), and the
// cluster totals (vmshare_cluster_vms{state}, vmshare_cluster_nodes{state}) are exported by one
// node only, the live one with the smallest id, so a sum over every node's scrape counts each
// VM once.
#include <functional>
#include <string>

namespace vmshare::cluster {

class ClusterStore;

// Registers the collect hook; `local_vms` counts the VMs this node runs.
void register_cluster_metrics(ClusterStore& store, std::string self, int dead_after_s, std::function<int()> local_vms);

}  // namespace vmshare::cluster
