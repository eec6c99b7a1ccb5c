#include "cluster/cluster_metrics.h"

#include "cluster/cluster_store.h"
#include "obs/vmshare_metrics.h"

namespace vmshare::cluster {

void register_cluster_metrics(ClusterStore& store, std::string self, int dead_after_s, std::function<int()> local_vms) {
  auto& r = obs::metrics().registry;
  auto& node_vms = r.gauge("vmshare_node_vms", "VMs running on this node", {"node"});
  auto& cluster_vms = r.gauge("vmshare_cluster_vms", "VMs in the cluster by state (reported by one node)", {"state"});
  auto& cluster_nodes = r.gauge("vmshare_cluster_nodes", "Nodes by state (reported by one node)", {"state"});
  auto& reporter = r.gauge("vmshare_cluster_reporter", "1 on the node that reports the cluster totals", {"node"});
  r.on_collect([&, self, dead_after_s, local_vms] {
    node_vms.with({self}).set(local_vms());
    try {
      const auto t = store.totals(dead_after_s);
      const bool reports = t.first_alive == self;
      reporter.with({self}).set(reports ? 1 : 0);
      if (!reports) {
        cluster_vms.retain([](const auto&) { return false; });
        cluster_nodes.retain([](const auto&) { return false; });
        return;
      }
      cluster_vms.with({"running"}).set(double(t.running));
      cluster_vms.with({"lost"}).set(double(t.lost));
      cluster_nodes.with({"alive"}).set(double(t.nodes_alive));
      cluster_nodes.with({"dead"}).set(double(t.nodes_dead));
      cluster_nodes.with({"draining"}).set(double(t.nodes_draining));
    } catch (const std::exception&) {
      // Database unavailable: keep the last values; vmshare_db_errors_total says why.
    }
  });
}

}  // namespace vmshare::cluster
