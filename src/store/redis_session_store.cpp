#include "store/redis_session_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <stdexcept>

#include "store/redis_keys.h"
#include "store/vm_session_hash.h"

namespace vmshare::store {
namespace {

using Command = std::vector<std::string>;
namespace keys = redis_keys;

// Optimistic retries when another writer touches the same VM between WATCH and EXEC.
constexpr int kWatchAttempts = 5;

// Reads vm:<vmid> and the pid index under WATCH, then runs MULTI + build(old) + EXEC.
// `build` gets the previous session (if any) and whether vm:by_pid:<old pid> still names it.
template <class Build>
void watched_update(RedisConnection& c, const std::string& vmid, Build&& build) {
  for (int attempt = 0; attempt < kWatchAttempts; ++attempt) {
    c.command({"WATCH", keys::vm(vmid)});
    auto flat = reply_strings(c.command({"HGETALL", keys::vm(vmid)}).get());
    std::optional<VmSession> old;
    bool owns_pid = false;
    if (!flat.empty()) {
      old = from_hash_fields(flat);
      if (old->pid > 0) {
        c.command({"WATCH", keys::by_pid(old->pid)});
        owns_pid = reply_string(c.command({"GET", keys::by_pid(old->pid)}).get()) == vmid;
      }
    }
    std::vector<Command> tx{{"MULTI"}};
    build(tx, old, owns_pid);
    tx.push_back({"EXEC"});
    auto replies = c.pipeline(tx);
    for (const auto& r : replies)
      if (reply_is_error(r.get())) throw RedisReplyError("redis: " + reply_string(r.get()));
    if (!reply_is_nil(replies.back().get())) return;  // nil EXEC: a watched key changed
  }
  throw std::runtime_error("redis: vm " + vmid + " kept changing under concurrent updates");
}

// Old index entries of a session, so a replaced or removed one leaves nothing behind.
void unindex(std::vector<Command>& tx, const std::string& vmid, const VmSession& old,
             bool owns_pid) {
  tx.push_back({"ZREM", keys::user_vms(old.user_id), vmid});
  tx.push_back({"SREM", keys::by_os(old.os_type), vmid});
  if (owns_pid) tx.push_back({"DEL", keys::by_pid(old.pid)});
}

// HGETALL for each vmid in one round trip; ids whose hash is gone (stale index) are skipped.
std::vector<VmSession> load_sessions(RedisConnection& c, const std::vector<std::string>& ids) {
  std::vector<Command> cmds;
  cmds.reserve(ids.size());
  for (const auto& id : ids) cmds.push_back({"HGETALL", keys::vm(id)});
  std::vector<VmSession> out;
  for (const auto& r : c.pipeline(cmds)) {
    auto flat = reply_strings(r.get());
    if (!flat.empty()) out.push_back(from_hash_fields(flat));
  }
  return out;
}

// +1 and, on the first hit (or for a key that somehow lost its TTL), the window's expiry, in
// one step: no key is ever left without a TTL, and parallel hits each see their own count.
constexpr const char* kHitScript =
    "local n = redis.call('INCR', KEYS[1]) "
    "local ttl = redis.call('TTL', KEYS[1]) "
    "if n == 1 or ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end "
    "return {n, ttl}";
// -1 only while the key exists and is above zero (DECR on a missing key would make one without a TTL).
constexpr const char* kReleaseScript =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "if n > 0 then redis.call('DECR', KEYS[1]) end "
    "return 0";

void check_counter_key(const std::string& key) {
  if (key.empty() || key.size() > kMaxCounterKeyBytes) throw std::invalid_argument("counter key must be 1-40 bytes");
}

FailureWindow window_of(long long count, long long ttl) {
  if (count <= 0) return {};
  return {count, std::chrono::seconds(std::max(ttl, 0LL))};
}

}  // namespace

RedisSessionStore::RedisSessionStore(const std::string& url, std::size_t pool_size,
                                     std::chrono::milliseconds timeout)
    : pool_(url, pool_size, timeout) {}

void RedisSessionStore::put_vm(const VmSession& s) {
  pool_.run([&](RedisConnection& c) {
    watched_update(c, s.vmid, [&](std::vector<Command>& tx, const std::optional<VmSession>& old,
                                  bool owns_pid) {
      if (old) unindex(tx, s.vmid, *old, owns_pid);
      tx.push_back({"DEL", keys::vm(s.vmid)});  // replace: drop extra fields no longer set
      Command hset{"HSET", keys::vm(s.vmid)};
      for (auto& [k, v] : to_hash_fields(s)) {
        hset.push_back(std::move(k));
        hset.push_back(std::move(v));
      }
      tx.push_back(std::move(hset));
      tx.push_back({"SADD", keys::kActive, s.vmid});
      tx.push_back({"ZADD", keys::user_vms(s.user_id), std::to_string(s.started_at), s.vmid});
      tx.push_back({"SADD", keys::by_os(s.os_type), s.vmid});
      if (s.pid > 0) tx.push_back({"SET", keys::by_pid(s.pid), s.vmid});
    });
    return 0;
  });
}

std::optional<VmSession> RedisSessionStore::get_vm(const std::string& vmid) {
  return pool_.run([&](RedisConnection& c) -> std::optional<VmSession> {
    auto flat = reply_strings(c.command({"HGETALL", keys::vm(vmid)}).get());
    if (flat.empty()) return std::nullopt;
    return from_hash_fields(flat);
  });
}

void RedisSessionStore::remove_vm(const std::string& vmid) {
  pool_.run([&](RedisConnection& c) {
    watched_update(c, vmid, [&](std::vector<Command>& tx, const std::optional<VmSession>& old,
                                bool owns_pid) {
      if (old) unindex(tx, vmid, *old, owns_pid);
      tx.push_back({"DEL", keys::vm(vmid)});
      tx.push_back({"SREM", keys::kActive, vmid});
    });
    return 0;
  });
}

std::vector<VmSession> RedisSessionStore::list_active() {
  return pool_.run([&](RedisConnection& c) {
    auto ids = reply_strings(c.command({"SMEMBERS", keys::kActive}).get());
    std::sort(ids.begin(), ids.end());
    return load_sessions(c, ids);
  });
}

std::vector<VmSession> RedisSessionStore::list_user(std::int64_t user_id) {
  return pool_.run([&](RedisConnection& c) {
    auto ids = reply_strings(c.command({"ZREVRANGE", keys::user_vms(user_id), "0", "-1"}).get());
    return load_sessions(c, ids);
  });
}

std::optional<std::string> RedisSessionStore::vm_by_pid(std::int64_t pid) {
  return pool_.run([&](RedisConnection& c) -> std::optional<std::string> {
    auto r = c.command({"GET", keys::by_pid(pid)});
    if (reply_is_nil(r.get())) return std::nullopt;
    return reply_string(r.get());
  });
}

void RedisSessionStore::revoke_token(const std::string& jti, std::chrono::seconds ttl) {
  // A token with no lifetime left still gets a second, so a racing request sees it revoked.
  const auto secs = std::max<long long>(ttl.count(), 1);
  pool_.run([&](RedisConnection& c) {
    c.command({"SET", keys::revoked(jti), "1", "EX", std::to_string(secs)});
    return 0;
  });
}

bool RedisSessionStore::is_revoked(const std::string& jti) {
  return pool_.run([&](RedisConnection& c) {
    return reply_integer(c.command({"EXISTS", keys::revoked(jti)}).get()) > 0;
  });
}

FailureWindow RedisSessionStore::counter(const std::string& key) {
  check_counter_key(key);
  return pool_.run([&](RedisConnection& c) {
    auto r = c.pipeline({{"GET", keys::counter(key)}, {"TTL", keys::counter(key)}});
    return window_of(reply_integer(r[0].get()), reply_integer(r[1].get()));
  });
}

FailureWindow RedisSessionStore::hit_counter(const std::string& key, std::chrono::seconds window) {
  check_counter_key(key);
  const auto secs = std::to_string(std::max<long long>(window.count(), 1));
  return pool_.run([&](RedisConnection& c) {
    auto r = c.command({"EVAL", kHitScript, "1", keys::counter(key), secs});
    if (reply_is_error(r.get())) throw RedisReplyError("redis: " + reply_string(r.get()));
    const redisReply* both = r.get();
    if (both->type != REDIS_REPLY_ARRAY || both->elements != 2)
      throw RedisReplyError("redis: unexpected reply to the counter script");
    return window_of(reply_integer(both->element[0]), reply_integer(both->element[1]));
  });
}

void RedisSessionStore::release_counter(const std::string& key) {
  check_counter_key(key);
  pool_.run([&](RedisConnection& c) {
    auto r = c.command({"EVAL", kReleaseScript, "1", keys::counter(key)});
    if (reply_is_error(r.get())) throw RedisReplyError("redis: " + reply_string(r.get()));
    return 0;
  });
}

void RedisSessionStore::clear_counter(const std::string& key) {
  check_counter_key(key);
  pool_.run([&](RedisConnection& c) {
    c.command({"DEL", keys::counter(key)});
    return 0;
  });
}

}  // namespace vmshare::store
