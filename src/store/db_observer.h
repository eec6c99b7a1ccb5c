#pragma once
// A hook for database metrics: each SQLite statement step and each PostgreSQL pooled call is
// timed and reported to one observer that main sets at start-up (the store stays free of any
// metrics library). Unset, a call costs one relaxed atomic load.
#include <chrono>
#include <cstdint>

namespace vmshare::store {

// op: "select", "insert", "update", "delete" or "other", from each SQLite statement's first
// keyword and from what each PostgreSQL store call does (see DbOp), so dashboards read the same
// for both; failed: the call ended with an exception (outage, constraint).
using DbObserver = void (*)(const char* op, double seconds, bool failed);
void set_db_observer(DbObserver observer);

// Database calls running now (SQLite has no pool, so this stands in for its "pool in use").
std::int64_t db_calls_in_flight();

// The statement's kind from its first SQL keyword, as a static string.
const char* sql_op(const char* sql);

// What a PostgreSQL store call does, stated by the call: one transaction may run several
// statements (a quota UPDATE and a snapshot INSERT), and the label names its purpose.
enum class DbOp { select, insert, update, delete_, other };
const char* db_op_name(DbOp op);

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
