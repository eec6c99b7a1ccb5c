#pragma once
// What it takes to bring this node's sessions in the shared store back in line with the VMs it
// runs, after writes were lost while the store was unreachable. Pure: no store, no locks.
#include <string>
#include <vector>

#include "store/session_store.h"

namespace vmshare::vm {

struct SessionSyncPlan {
  std::vector<std::string> remove;  // stored as this node's, but no such VM runs here
  std::vector<std::string> put;     // runs here, its session missing or out of date
};

// `stored`: every session in the store (any node); `wanted`: the sessions of the VMs this node
// runs now. Other nodes' sessions are never touched. Fields beyond the platform's (`extra`)
// are not compared.
SessionSyncPlan plan_session_sync(const std::vector<store::VmSession>& stored,
                                  const std::vector<store::VmSession>& wanted, const std::string& node);

}  // namespace vmshare::vm
