#pragma once
// The two SessionStore backends as test fixtures. Redis comes from VMSHARE_TEST_REDIS_URL;
// ids are unique to the run, so nothing is flushed and reruns never collide.
#include "store/memory_session_store.h"
#include "store/redis_session_store.h"
#include "test_support.h"

namespace vmshare::store::test {

inline constexpr const char* kRedisEnv = "VMSHARE_TEST_REDIS_URL";

struct MemoryBackend {
  std::string error;
  std::unique_ptr<SessionStore> open() { return std::make_unique<MemorySessionStore>(); }
  Config config() const { return {}; }
};

struct RedisBackend {
  std::string url = env_or_empty(kRedisEnv);
  std::string error = url.empty() ? missing_env_message(kRedisEnv) : "";
  std::unique_ptr<SessionStore> open() { return std::make_unique<RedisSessionStore>(url); }
  Config config() const {
    Config c;
    c.redis_url = url;
    return c;
  }
};

// User ids no other run uses: the low 32 bits of the run id, shifted up.
inline std::int64_t unique_user_id() {
  static std::atomic<std::int64_t> n{0};
  static const std::int64_t base =
      static_cast<std::int64_t>(std::stoul(run_id().substr(1), nullptr, 16)) << 16;
  return base + ++n;
}

inline std::int64_t unique_pid() {
  static std::atomic<std::int64_t> n{0};
  return (unique_user_id() << 4) + ++n;  // far above real pids, distinct per run
}

inline VmSession make_session(std::int64_t uid, const std::string& os, std::int64_t started) {
  VmSession s;
  s.vmid = unique_name("vm");
  s.user_id = uid;
  s.os_type = os;
  s.pid = unique_pid();
  s.status = "running";
  s.started_at = started;
  s.expires_at = started + 3600;
  s.node = "node-a";
  s.extra = {{"console", "/ws/" + s.vmid}};
  return s;
}

}  // namespace vmshare::store::test
