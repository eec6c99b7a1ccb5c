#pragma once
// Shared, short-lived state: VM sessions, revoked tokens, throttling counters.
// In-process by default, Redis when REDIS_URL is set, so several vmshare nodes can agree.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"

namespace vmshare::store {

// One VM session. Redis layout (the platform's): hash vm:<vmid>, set vms:active,
// zset user:<uid>:vms (score started_at), set vms:by_os:<os_type>, string vm:by_pid:<pid>.
struct VmSession {
  std::string vmid;
  std::int64_t user_id = 0;
  std::string os_type;
  std::int64_t pid = 0;
  std::string status;  // starting | running | stopping
  std::int64_t started_at = 0;  // unix seconds
  std::int64_t expires_at = 0;  // unix seconds
  std::string node;             // which vmshare host runs it
  std::map<std::string, std::string> extra;  // further hash fields, kept as they are
};

// A fixed-window counter as read or just changed.
struct FailureWindow {
  std::int64_t count = 0;
  std::chrono::seconds retry_after{0};  // time until the window ends
};

// Longest counter key a store takes (auth/throttle_key.h makes them: a short tag and a digest),
// so the state kept per key is bounded whatever clients send.
constexpr std::size_t kMaxCounterKeyBytes = 40;

// Blocking and thread-safe; store unreachable: vmshare::ServiceUnavailable, reconnect on next call.
class SessionStore {
 public:
  virtual ~SessionStore() = default;

  virtual void put_vm(const VmSession& session) = 0;  // insert or replace, indices included
  virtual std::optional<VmSession> get_vm(const std::string& vmid) = 0;
  virtual void remove_vm(const std::string& vmid) = 0;  // and every index entry
  virtual std::vector<VmSession> list_active() = 0;
  virtual std::vector<VmSession> list_user(std::int64_t user_id) = 0;  // newest first
  virtual std::optional<std::string> vm_by_pid(std::int64_t pid) = 0;

  // Revoked JWT ids, forgotten after `ttl` (the token's remaining lifetime).
  virtual void revoke_token(const std::string& jti, std::chrono::seconds ttl) = 0;
  virtual bool is_revoked(const std::string& jti) = 0;

  // Fixed-window counters for throttling (sign-in failures, sign-ups), atomic per key. The
  // window opens at the first hit and does not slide; an expired window reads as zero. Keys
  // longer than kMaxCounterKeyBytes: std::invalid_argument.
  virtual FailureWindow counter(const std::string& key) = 0;
  // +1 and the counter as it is after that (count includes this hit).
  virtual FailureWindow hit_counter(const std::string& key, std::chrono::seconds window) = 0;
  // -1 if above zero (a reserved attempt that did not happen); the window is kept.
  virtual void release_counter(const std::string& key) = 0;
  virtual void clear_counter(const std::string& key) = 0;

  virtual std::string backend_name() const = 0;  // "memory" | "redis"
};

std::unique_ptr<SessionStore> make_session_store(const Config& config);

}  // namespace vmshare::store
