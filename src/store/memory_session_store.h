#pragma once
// SessionStore in this process (one node, no setup): maps behind a mutex; TTLs are checked
// against a steady clock when read, and expired entries are swept now and then.
#include <mutex>

#include "store/session_store.h"

namespace vmshare::store {

class MemorySessionStore final : public SessionStore {
 public:
  void put_vm(const VmSession& session) override;
  std::optional<VmSession> get_vm(const std::string& vmid) override;
  void remove_vm(const std::string& vmid) override;
  std::vector<VmSession> list_active() override;
  std::vector<VmSession> list_user(std::int64_t user_id) override;
  std::optional<std::string> vm_by_pid(std::int64_t pid) override;

  void revoke_token(const std::string& jti, std::chrono::seconds ttl) override;
  bool is_revoked(const std::string& jti) override;

  FailureWindow login_failures(const std::string& login) override;
  FailureWindow add_login_failure(const std::string& login, std::chrono::seconds window) override;
  void clear_login_failures(const std::string& login) override;

  std::string backend_name() const override { return "memory"; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Window {
    std::int64_t count = 0;
    Clock::time_point ends;
  };

  void sweep_locked(Clock::time_point now);
  static FailureWindow view(const Window& w, Clock::time_point now);

  std::mutex mu_;
  std::map<std::string, VmSession> vms_;
  std::map<std::int64_t, std::string> by_pid_;  // like Redis' vm:by_pid:<pid>
  std::map<std::string, Clock::time_point> revoked_;  // jti -> forget after
  std::map<std::string, Window> failures_;
  std::uint64_t writes_ = 0;
};

}  // namespace vmshare::store
