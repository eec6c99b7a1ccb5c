#pragma once
// PostgreSQL connections for the stores: a bounded pool, outages turned into
// ServiceUnavailable, and a stale connection (server restarted meanwhile) retried once.
#include <pqxx/pqxx>

#include <functional>
#include <string>

#include "store/connection_pool.h"
#include "store/db_observer.h"

namespace vmshare::store {

class PgPool {
 public:
  // `url` is a postgresql:// URL; a connect_timeout is added when it has none.
  PgPool(const std::string& url, std::size_t size);

  // Runs fn on a pooled connection, timed under `op` (vmshare_db_query_seconds{op}). Connection failures throw ServiceUnavailable and discard
  // the connection; fn's own exceptions (e.g. pqxx::unique_violation) pass through. When a
  // pooled connection turns out dead before anything was committed, fn runs once more on a
  // fresh one, so a restart of the server costs no failed call. fn must therefore commit at
  // most once, at its end.
  template <class F>
  auto run(DbOp op, F&& fn) -> decltype(fn(std::declval<pqxx::connection&>())) {
    DbTimer timer(db_op_name(op));
    for (int attempt = 0;; ++attempt) {
      auto lease = acquire();
      try {
        return fn(*lease);
      } catch (const pqxx::broken_connection& e) {
        lease.discard();
        pool_.drop_idle();
        if (!lease.reused() || attempt > 0) unavailable(e.what());
      } catch (const pqxx::in_doubt_error& e) {
        lease.discard();
        pool_.drop_idle();
        unavailable(e.what());  // a commit may or may not have happened: never retry
      } catch (const pqxx::sql_error& e) {
        if (!is_outage(e.sqlstate())) throw;
        lease.discard();
        pool_.drop_idle();
        unavailable(e.what());
      }
    }
  }

  std::size_t in_use() const { return pool_.in_use(); }
  const std::string& redacted_url() const { return redacted_url_; }

 private:
  ConnectionPool<pqxx::connection>::Lease acquire();
  [[noreturn]] void unavailable(const char* what) const;
  static bool is_outage(const std::string& sqlstate);

  std::string conninfo_;
  std::string redacted_url_;
  ConnectionPool<pqxx::connection> pool_;
};

// The URL with connect_timeout=<seconds> appended unless it sets one (libpq waits forever by
// default on an unreachable host).
std::string with_connect_timeout(const std::string& url, int seconds);

}  // namespace vmshare::store
