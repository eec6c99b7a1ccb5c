#include "store/db_observer.h"

#include <atomic>
#include <cctype>
#include <exception>

namespace vmshare::store {
namespace {
std::atomic<DbObserver> g_observer{nullptr};
std::atomic<std::int64_t> g_in_flight{0};

bool starts_with_word(const char* s, const char* word) {
  for (; *word; ++s, ++word)
    if (std::tolower(static_cast<unsigned char>(*s)) != *word) return false;
  return !std::isalnum(static_cast<unsigned char>(*s));
}
}  // namespace

void set_db_observer(DbObserver observer) { g_observer.store(observer, std::memory_order_release); }

std::int64_t db_calls_in_flight() { return g_in_flight.load(std::memory_order_relaxed); }

const char* sql_op(const char* sql) {
  if (!sql) return "other";
  while (std::isspace(static_cast<unsigned char>(*sql))) ++sql;
  for (const char* op : {"select", "insert", "update", "delete"})
    if (starts_with_word(sql, op)) return op;
  return "other";
}

const char* db_op_name(DbOp op) {
  switch (op) {
    case DbOp::select: return "select";
    case DbOp::insert: return "insert";
    case DbOp::update: return "update";
    case DbOp::delete_: return "delete";
    case DbOp::other: break;
  }
  return "other";
}

DbTimer::DbTimer(const char* op)
    : op_(op), observer_(g_observer.load(std::memory_order_acquire)), exceptions_(std::uncaught_exceptions()) {
  g_in_flight.fetch_add(1, std::memory_order_relaxed);
  if (observer_) start_ = std::chrono::steady_clock::now();
}

DbTimer::~DbTimer() {
  g_in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (!observer_) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  observer_(op_, seconds, std::uncaught_exceptions() > exceptions_);
}

}  // namespace vmshare::store
