#pragma once
// SessionStore on Redis (hiredis, blocking) in the platform's key layout, so several vmshare
// nodes and the platform's other services see the same sessions.
#include "store/redis_pool.h"
#include "store/session_store.h"

namespace vmshare::store {

class RedisSessionStore final : public SessionStore {
 public:
  // Never connects here: an unreachable Redis makes calls throw ServiceUnavailable instead.
  // Throws std::invalid_argument for a malformed URL.
  RedisSessionStore(const std::string& url, std::size_t pool_size = 8,
                    std::chrono::milliseconds timeout = std::chrono::seconds(2));

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

  std::string backend_name() const override { return "redis"; }

 private:
  RedisPool pool_;
};

}  // namespace vmshare::store
