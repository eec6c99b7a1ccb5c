#pragma once
// SessionStore in this process (one node, no setup): maps behind a mutex; TTLs are checked
// against a steady clock when read, and expired entries are swept now and then. Throttling
// counters are capped at `max_counters` entries (each a key of at most kMaxCounterKeyBytes and
// a window, ~150 bytes with the map node): when full, expired ones go first, then those whose
// window ends soonest.
#include <mutex>

#include "store/session_store.h"

namespace vmshare::store {

class MemorySessionStore final : public SessionStore {
 public:
  static constexpr std::size_t kDefaultMaxCounters = 65536;
  explicit MemorySessionStore(std::size_t max_counters = kDefaultMaxCounters) : max_counters_(max_counters) {}

  void put_vm(const VmSession& session) override;
  std::optional<VmSession> get_vm(const std::string& vmid) override;
  void remove_vm(const std::string& vmid) override;
  std::vector<VmSession> list_active() override;
  std::vector<VmSession> list_user(std::int64_t user_id) override;
  std::optional<std::string> vm_by_pid(std::int64_t pid) override;

  void revoke_token(const std::string& jti, std::chrono::seconds ttl) override;
  bool is_revoked(const std::string& jti) override;

  FailureWindow counter(const std::string& key) override;
  FailureWindow hit_counter(const std::string& key, std::chrono::seconds window) override;
  void release_counter(const std::string& key) override;
  void clear_counter(const std::string& key) override;
  std::size_t counters_held();  // for tests: entries now in memory

  std::string backend_name() const override { return "memory"; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Window {
    std::int64_t count = 0;
    Clock::time_point ends;
  };

  void sweep_locked(Clock::time_point now);
  void make_room_locked(Clock::time_point now);
  static FailureWindow view(const Window& w, Clock::time_point now);

  std::mutex mu_;
  std::map<std::string, VmSession> vms_;
  std::map<std::int64_t, std::string> by_pid_;  // like Redis' vm:by_pid:<pid>
  std::map<std::string, Clock::time_point> revoked_;  // jti -> forget after
  const std::size_t max_counters_;
  std::map<std::string, Window> counters_;
  std::uint64_t writes_ = 0;
};

}  // namespace vmshare::store
