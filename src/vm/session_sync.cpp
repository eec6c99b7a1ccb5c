#include "vm/session_sync.h"

#include <map>
#include <tuple>

namespace vmshare::vm {
namespace {

auto key(const store::VmSession& s) {
  return std::tie(s.vmid, s.user_id, s.os_type, s.pid, s.status, s.started_at, s.expires_at, s.node);
}

}  // namespace

SessionSyncPlan plan_session_sync(const std::vector<store::VmSession>& stored,
                                  const std::vector<store::VmSession>& wanted, const std::string& node) {
  std::map<std::string, const store::VmSession*> have;
  for (const auto& s : stored) have[s.vmid] = &s;
  std::map<std::string, const store::VmSession*> want;
  for (const auto& s : wanted) want[s.vmid] = &s;

  SessionSyncPlan plan;
  for (const auto& [vmid, s] : have)
    if (s->node == node && !want.count(vmid)) plan.remove.push_back(vmid);
  for (const auto& [vmid, s] : want) {
    auto it = have.find(vmid);
    if (it == have.end() || key(*it->second) != key(*s)) plan.put.push_back(vmid);
  }
  return plan;
}

}  // namespace vmshare::vm
