#pragma once
// Several nodes as one service: this node's part. Built by main only when VMSHARE_NODE_ID is
// set; the API asks it where a user's VM runs, where a new one goes, and forwards through it.
//
// A background thread heartbeats every VMSHARE_HEARTBEAT_S, sweeps nodes silent for
// VMSHARE_NODE_DEAD_S (their VMs marked lost, their sessions removed) and reconciles this node
// with the table: a VM running here whose row is gone or lost (the node was given up while it
// was away) is stopped.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/cluster_store.h"
#include "cluster/forwarder.h"
#include "cluster/placement.h"
#include "core/config.h"
#include "store/session_store.h"
#include "vm/vm_manager.h"

namespace vmshare::cluster {

class Cluster {
 public:
  Cluster(const Config& config, vm::VmManager& vms, store::SessionStore& sessions);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // First heartbeat and reconcile (after the VM manager adopted what survived), then the
  // background thread. Throws when PostgreSQL cannot be reached.
  void start();
  void stop();

  const std::string& self() const { return self_; }
  ClusterStore& store() { return store_; }
  const Forwarder& forwarder() const { return forwarder_; }

  // The internal address of a node, from the shared table (cached); PeerUnavailable if unknown.
  PeerAddress peer(const std::string& node);
  // A node for a new VM; throws PlacementRefused.
  std::string place(const PlacementRequest& request);

 private:
  // Longer than any launch takes (monitor 30 s, rollback 15 s): a row this old is no launch.
  static constexpr std::int64_t kLaunchMaxS = 120;
  void run();
  void tick();
  void reconcile_running(bool at_start);
  std::int64_t node_memory_mb() const;

  Config config_;
  std::string self_;
  vm::VmManager& vms_;
  store::SessionStore& sessions_;
  ClusterStore store_;
  Forwarder forwarder_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, PeerAddress> peers_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace vmshare::cluster
