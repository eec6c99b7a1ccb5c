#include "cluster/cluster.h"

#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cluster/cluster_metrics.h"
#include "cluster/errors.h"
#include "vm/exit_reason.h"

namespace vmshare::cluster {

Cluster::Cluster(const Config& config, vm::VmManager& vms, store::SessionStore& sessions)
    : config_(config),
      self_(config.cluster.node_id),
      vms_(vms),
      sessions_(sessions),
      store_(config.database_url, 4),
      forwarder_(config.cluster.node_id, config.cluster.key) {
  vms_.set_placement_hooks({[this](const vm::VmRecord& r, int memory_mb) {
                              VmRow row{r.vmid, r.user_id, self_, "running", r.os_type,
                                        r.source_snapshot.empty() ? (r.iso_path.empty() ? "" : "iso") : r.source_snapshot,
                                        memory_mb, r.started_at, r.expires_at};
                              store_.claim(row);
                            },
                            [this](const vm::VmRecord& r) { store_.release(r.vmid, self_); }});
}

Cluster::~Cluster() { stop(); }

std::int64_t Cluster::node_memory_mb() const {
  if (config_.cluster.memory_mb > 0) return config_.cluster.memory_mb;
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb / 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

void Cluster::start() {
  store_.heartbeat(self_, config_.cluster.internal_url, config_.max_vms, node_memory_mb());
  reconcile_running(true);
  register_cluster_metrics(store_, self_, config_.cluster.node_dead_s, [this] { return static_cast<int>(vms_.list().size()); });
  thread_ = std::thread([this] { run(); });
  spdlog::info("cluster: node {} joined (internal {})", self_, config_.cluster.internal_url);
}

void Cluster::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Cluster::run() {
  const auto period = std::chrono::seconds(config_.cluster.heartbeat_s);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    try {
      tick();
    } catch (const std::exception& e) {
      spdlog::warn("cluster: heartbeat failed: {}", e.what());
    }
    lock.lock();
  }
}

void Cluster::tick() {
  {
    std::lock_guard lock(mutex_);
    peers_.clear();  // a node restarted elsewhere is found again
  }
  const bool was_dead = store_.heartbeat(self_, config_.cluster.internal_url, config_.max_vms, node_memory_mb());
  if (was_dead) spdlog::warn("cluster: this node had been given up as dead; stopping the VMs it lost");
  for (const auto& lost : store_.sweep_dead(config_.cluster.node_dead_s)) {
    spdlog::warn("cluster: VM {} of user {} lost with node {}", lost.vmid, lost.user_id, lost.node);
    try {
      sessions_.remove_vm(lost.vmid);
    } catch (const std::exception& e) {
      spdlog::warn("cluster: session of lost VM {} not removed: {}", lost.vmid, e.what());
    }
  }
  reconcile_running(false);
}

// This node against the table: what runs here without a running row of this node (given up as
// lost, or released) is stopped. Rows of this node that nothing here runs (not adopted after a
// restart, or a release that failed) are dropped: at start-up all of them, later only those older
// than any launch can take (a younger one may be a launch in progress).
void Cluster::reconcile_running(bool at_start) {
  const auto local = vms_.list();  // before the rows: a VM listed here has claimed its row already
  const auto oldest_launch = static_cast<std::int64_t>(std::time(nullptr)) - kLaunchMaxS;
  std::set<std::string> owned, droppable;
  for (const auto& row : store_.vms_of_node(self_)) {
    if (row.state != "running") continue;
    owned.insert(row.vmid);
    if (at_start || row.started_at < oldest_launch) droppable.insert(row.vmid);
  }
  std::set<std::string> here;
  for (const auto& v : local) {
    here.insert(v.vmid);
    if (owned.count(v.vmid)) continue;
    spdlog::warn("cluster: VM {} runs here but the cluster gave it up; stopping it", v.vmid);
    try {
      vms_.terminate(v.vmid, vm::ExitReason::killed);
    } catch (const std::exception& e) {
      spdlog::warn("cluster: stopping VM {} failed: {}", v.vmid, e.what());
    }
  }
  std::vector<std::string> stale;
  for (const auto& vmid : droppable)
    if (!here.count(vmid)) stale.push_back(vmid);
  if (!stale.empty()) spdlog::info("cluster: {} VM row(s) of this node no longer run; dropped", stale.size());
  store_.drop_rows(stale, self_);
}

PeerAddress Cluster::peer(const std::string& node) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = peers_.find(node); it != peers_.end()) return it->second;
  }
  for (const auto& n : store_.nodes(config_.cluster.node_dead_s)) {
    if (n.state.id != node) continue;
    try {
      auto address = parse_internal_url(n.state.internal_url);
      std::lock_guard lock(mutex_);
      peers_[node] = address;
      return address;
    } catch (const std::invalid_argument&) {
      break;
    }
  }
  throw PeerUnavailable("The node running your VM is unknown; please try again shortly");
}

std::string Cluster::place(const PlacementRequest& request) {
  std::vector<NodeState> nodes;
  for (const auto& n : store_.nodes(config_.cluster.node_dead_s)) nodes.push_back(n.state);
  auto choice = plan_placement(nodes, request);
  if (auto* refused = std::get_if<Refused>(&choice)) throw PlacementRefused(refused->reason);
  return std::get<Placed>(choice).node;
}

}  // namespace vmshare::cluster
