#pragma once
// Redis connections for the session store: a bounded pool, outages turned into
// ServiceUnavailable, and a stale connection (server restarted meanwhile) retried once.
#include <chrono>
#include <string>

#include "store/connection_pool.h"
#include "store/redis_connection.h"

namespace vmshare::store {

class RedisPool {
 public:
  RedisPool(const std::string& url, std::size_t size, std::chrono::milliseconds timeout);

  // Runs fn(RedisConnection&). A connection that threw anything is closed rather than pooled
  // (it may sit inside WATCH/MULTI). Outages throw ServiceUnavailable; when a pooled connection
  // finds the server gone (EOF/reset, the command never ran) fn runs once more on a fresh one.
  template <class F>
  auto run(F&& fn) -> decltype(fn(std::declval<RedisConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      auto lease = acquire();
      try {
        return fn(*lease);
      } catch (const RedisIoError& e) {
        lease.discard();
        pool_.drop_idle();
        if (!(e.vanished && lease.reused() && attempt == 0)) unavailable(e.what());
      } catch (const RedisReplyError& e) {
        lease.discard();
        if (is_outage(e.what())) unavailable(e.what());
        throw;
      } catch (...) {
        lease.discard();
        throw;
      }
    }
  }

  const std::string& redacted_url() const { return redacted_url_; }

 private:
  ConnectionPool<RedisConnection>::Lease acquire();
  [[noreturn]] void unavailable(const char* what) const;
  static bool is_outage(const std::string& reply_error);

  RedisUrl url_;
  std::chrono::milliseconds timeout_;
  std::string redacted_url_;
  ConnectionPool<RedisConnection> pool_;
};

}  // namespace vmshare::store
