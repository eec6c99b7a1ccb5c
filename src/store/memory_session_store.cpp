#include "store/memory_session_store.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace vmshare::store {
namespace {

constexpr std::uint64_t kSweepEvery = 256;  // writes between sweeps of expired entries

std::chrono::seconds ceil_seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::ceil<std::chrono::seconds>(d);
}

void check_counter_key(const std::string& key) {
  if (key.empty() || key.size() > kMaxCounterKeyBytes) throw std::invalid_argument("counter key must be 1-40 bytes");
}

}  // namespace

void MemorySessionStore::put_vm(const VmSession& session) {
  std::lock_guard lock(mu_);
  auto old = vms_.find(session.vmid);
  if (old != vms_.end() && old->second.pid != session.pid) {
    auto owner = by_pid_.find(old->second.pid);
    if (owner != by_pid_.end() && owner->second == session.vmid) by_pid_.erase(owner);
  }
  vms_[session.vmid] = session;
  if (session.pid > 0) by_pid_[session.pid] = session.vmid;
}

std::optional<VmSession> MemorySessionStore::get_vm(const std::string& vmid) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vmid);
  if (it == vms_.end()) return std::nullopt;
  return it->second;
}

void MemorySessionStore::remove_vm(const std::string& vmid) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vmid);
  if (it == vms_.end()) return;
  auto owner = by_pid_.find(it->second.pid);
  if (owner != by_pid_.end() && owner->second == vmid) by_pid_.erase(owner);
  vms_.erase(it);
}

std::vector<VmSession> MemorySessionStore::list_active() {
  std::lock_guard lock(mu_);
  std::vector<VmSession> out;
  out.reserve(vms_.size());
  for (const auto& [id, s] : vms_) out.push_back(s);
  return out;
}

std::vector<VmSession> MemorySessionStore::list_user(std::int64_t user_id) {
  std::vector<VmSession> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, s] : vms_)
      if (s.user_id == user_id) out.push_back(s);
  }
  // Newest first; ties ordered like Redis' ZREVRANGE (member descending).
  std::sort(out.begin(), out.end(), [](const VmSession& a, const VmSession& b) {
    return std::tie(a.started_at, a.vmid) > std::tie(b.started_at, b.vmid);
  });
  return out;
}

std::optional<std::string> MemorySessionStore::vm_by_pid(std::int64_t pid) {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return std::nullopt;
  return it->second;
}

void MemorySessionStore::revoke_token(const std::string& jti, std::chrono::seconds ttl) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  revoked_[jti] = now + std::max(ttl, std::chrono::seconds(1));
  sweep_locked(now);
}

bool MemorySessionStore::is_revoked(const std::string& jti) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  auto it = revoked_.find(jti);
  return it != revoked_.end() && it->second > now;
}

FailureWindow MemorySessionStore::view(const Window& w, Clock::time_point now) {
  if (w.ends <= now) return {};
  return {w.count, ceil_seconds(w.ends - now)};
}

FailureWindow MemorySessionStore::counter(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();  // under the lock: see hit_counter
  auto it = counters_.find(key);
  if (it == counters_.end()) return {};
  return view(it->second, now);
}

FailureWindow MemorySessionStore::hit_counter(const std::string& key, std::chrono::seconds window) {
  check_counter_key(key);
  std::lock_guard lock(mu_);
  // Read under the lock, so no caller sees a window opened after its clock reading: its wait
  // would come out longer than the window (CI: Retry-After 3601 for a one-hour sign-up window).
  const auto now = Clock::now();
  auto it = counters_.find(key);
  if (it == counters_.end()) {
    make_room_locked(now);
    it = counters_.emplace(key, Window{}).first;
  }
  auto& w = it->second;
  if (w.ends <= now) w = Window{0, now + std::max(window, std::chrono::seconds(1))};
  ++w.count;  // fixed window: later hits do not extend it
  auto out = view(w, now);
  sweep_locked(now);
  return out;
}

void MemorySessionStore::release_counter(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = counters_.find(key);
  if (it != counters_.end() && it->second.count > 0) --it->second.count;
}

void MemorySessionStore::clear_counter(const std::string& key) {
  std::lock_guard lock(mu_);
  counters_.erase(key);
}

std::size_t MemorySessionStore::counters_held() {
  std::lock_guard lock(mu_);
  return counters_.size();
}

// At the cap: drop expired windows; if none, the one that ends soonest (it has the least
// left to protect). O(n), but only while the map is full.
void MemorySessionStore::make_room_locked(Clock::time_point now) {
  if (counters_.size() < max_counters_) return;
  std::erase_if(counters_, [&](const auto& kv) { return kv.second.ends <= now; });
  if (counters_.size() < max_counters_) return;
  auto soonest = std::min_element(counters_.begin(), counters_.end(),
                                  [](const auto& a, const auto& b) { return a.second.ends < b.second.ends; });
  counters_.erase(soonest);
}

void MemorySessionStore::sweep_locked(Clock::time_point now) {
  if (++writes_ % kSweepEvery != 0) return;
  std::erase_if(revoked_, [&](const auto& kv) { return kv.second <= now; });
  std::erase_if(counters_, [&](const auto& kv) { return kv.second.ends <= now; });
}

}  // namespace vmshare::store
