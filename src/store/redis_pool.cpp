#include "store/redis_pool.h"

#include <spdlog/spdlog.h>

#include "store/url_redaction.h"

namespace vmshare::store {

RedisPool::RedisPool(const std::string& url, std::size_t size, std::chrono::milliseconds timeout)
    : url_(parse_redis_url(url)),
      timeout_(timeout),
      redacted_url_(redact_url(url)),
      pool_(size, [this] { return std::make_unique<RedisConnection>(url_, timeout_); }) {}

ConnectionPool<RedisConnection>::Lease RedisPool::acquire() {
  try {
    return pool_.acquire();
  } catch (const RedisIoError& e) {
    unavailable(e.what());
  } catch (const RedisReplyError& e) {  // AUTH or SELECT refused: misconfigured, still a 503
    unavailable(e.what());
  }
}

void RedisPool::unavailable(const char* what) const {
  spdlog::warn("store: Redis {} unavailable: {}", redacted_url_, what);
  throw ServiceUnavailable("session store unavailable");
}

bool RedisPool::is_outage(const std::string& reply_error) {
  // Replies a healthy server gives while it cannot serve: loading its dump, a busy script,
  // a replica without its master, a refused write after a failed save, a lost AUTH.
  for (const char* code : {"LOADING", "BUSY", "MASTERDOWN", "MISCONF", "NOAUTH", "READONLY"})
    if (reply_error.find(std::string("redis: ") + code) == 0) return true;
  return false;
}

}  // namespace vmshare::store
