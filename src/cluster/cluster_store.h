#pragma once
// The shared tables (PostgreSQL, migration 5): `nodes` (capacity, heartbeat, draining) and `vms`
// (where each VM runs). Coordination is the database's: a partial unique index keeps one running
// VM per user, and one UPDATE marks a silent node dead and its VMs lost, so only one node does it.
// A row another node wrote is never trusted for paths: the owner keeps its own records.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/placement.h"
#include "store/pg_pool.h"

namespace vmshare::cluster {

struct VmRow {
  std::string vmid;
  std::int64_t user_id = 0;
  std::string node;
  std::string state;  // running | lost
  std::string os_type;
  std::string source;  // snapshot name, "iso", or empty (catalog profile)
  std::int64_t memory_mb = 0;
  std::int64_t started_at = 0;
  std::int64_t expires_at = 0;
};

struct NodeRow {
  NodeState state;
  std::int64_t heartbeat_age_s = 0;
  bool dead = false;
};

// The user already has a running VM (on this node or another): the launch returns it.
struct AlreadyRunning : std::runtime_error {
  explicit AlreadyRunning(VmRow row) : std::runtime_error("the user already runs a VM"), vm(std::move(row)) {}
  VmRow vm;
};

class ClusterStore {
 public:
  ClusterStore(const std::string& database_url, std::size_t pool_size);

  // Inserts or refreshes this node's row (alive again, not dead); returns whether it had been
  // marked dead meanwhile (its VMs were given up and must be stopped here).
  bool heartbeat(const std::string& id, const std::string& url, int max_vms, std::int64_t memory_mb);
  // Marks nodes silent for `dead_after_s` dead and their running VMs lost, atomically; returns
  // the VMs lost (by any node's call, each exactly once).
  std::vector<VmRow> sweep_dead(int dead_after_s);
  std::vector<NodeRow> nodes(int dead_after_s);
  bool set_draining(const std::string& id, bool draining);
  // Removes a node that is dead or has never run VMs; its lost rows go too. false: no such node
  // or it is alive.
  bool forget(const std::string& id, int dead_after_s);

  // Claims the user's one running VM for `row` (lost rows of the user are dropped); throws
  // AlreadyRunning with the VM that holds the claim.
  void claim(const VmRow& row);
  // The VM ended (on its node): its row goes unless it was already given up as lost.
  void release(const std::string& vmid, const std::string& node);
  std::optional<VmRow> running_vm_of_user(std::int64_t user_id);
  std::optional<VmRow> latest_vm_of_user(std::int64_t user_id);  // running, else the last lost one
  std::optional<VmRow> find(const std::string& vmid);
  std::vector<VmRow> vms_of_node(const std::string& node);
  // Rows this node holds as running that it no longer runs (after a restart): removed.
  void drop_rows(const std::vector<std::string>& vmids, const std::string& node);
  // Where a user's uploaded ISO lives.
  void set_iso_node(std::int64_t user_id, const std::string& node);
  std::optional<std::string> iso_node(std::int64_t user_id);
  // Cluster totals for /metrics: running and lost VMs, nodes alive / dead / draining.
  struct Totals {
    std::int64_t running = 0, lost = 0, nodes_alive = 0, nodes_dead = 0, nodes_draining = 0;
    std::string first_alive;  // the node that reports the totals (the smallest live id)
  };
  Totals totals(int dead_after_s);

 private:
  store::PgPool pool_;
};

}  // namespace vmshare::cluster
