#pragma once
// A hook for database metrics: each SQLite statement step and each PostgreSQL pooled call is
// timed and reported to one observer that main sets at start-up (the store stays free of any
// metrics library). Unset, a call costs one relaxed atomic load.
#include <chrono>
#include <cstdint>

namespace vmshare::store {

// op: "select", "insert", "update", "delete", "other" (SQLite statements) or "transaction"
// (a PostgreSQL pooled call); failed: the call ended with an exception (outage, constraint).
using DbObserver = void (*)(const char* op, double seconds, bool failed);
void set_db_observer(DbObserver observer);

// Database calls running now (SQLite has no pool, so this stands in for its "pool in use").
std::int64_t db_calls_in_flight();

// The statement's kind from its first SQL keyword, as a static string.
const char* sql_op(const char* sql);

// Times one call from construction to destruction; an exception leaving the scope marks it failed.
class DbTimer {
 public:
  explicit DbTimer(const char* op);
  ~DbTimer();
  DbTimer(const DbTimer&) = delete;
  DbTimer& operator=(const DbTimer&) = delete;

 private:
  const char* op_;
  DbObserver observer_;
  int exceptions_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace vmshare::store
