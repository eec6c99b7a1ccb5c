#pragma once
// Thin RAII over one sqlite3 connection and its prepared statements. Not thread-safe by itself:
// the owner serialises access.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace vmshare::store {

// A SQLite error that is not an outage; `code` is the extended result code.
struct SqliteError : std::runtime_error {
  int code;
  SqliteError(int c, const std::string& what) : std::runtime_error(what), code(c) {}
};

class SqliteStatement;

class SqliteDb {
 public:
  // Opens (creating) the file, WAL journal, busy timeout, extended result codes.
  SqliteDb(const std::string& path, int busy_timeout_ms);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);  // one or more statements, no results
  SqliteStatement prepare(const std::string& sql);
  // The same, compiled once per connection and kept: for hot queries (GET /me looks a user up
  // on every request, and compiling the SELECT was most of SQLite's time). The statement is
  // reset and its bindings cleared when the returned handle goes; one handle per SQL at a time.
  SqliteStatement prepare_cached(const std::string& sql);
  std::int64_t changes() const;

  // Throws ServiceUnavailable (locked, I/O, disk full) or SqliteError for result code `rc`.
  [[noreturn]] void fail(int rc, const std::string& context) const;

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> cached_;
};

class SqliteStatement {
 public:
  // owned: finalized with the handle; otherwise (a cached statement) only reset.
  SqliteStatement(SqliteDb& db, sqlite3_stmt* stmt, bool owned = true) : db_(&db), stmt_(stmt), owned_(owned) {}
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), owned_(o.owned_) { o.stmt_ = nullptr; }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& bind(int index, const std::string& value);  // 1-based, like SQLite
  SqliteStatement& bind(int index, std::int64_t value);
  bool step();  // true: a row is ready; false: done
  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
  bool owned_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when the scope is left by an exception. IMMEDIATE takes
// the write lock up front, so a read and the write that depends on it (a quota check, a count of
// live links) are one step for every process on the file.
class SqliteWriteTransaction {
 public:
  explicit SqliteWriteTransaction(SqliteDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~SqliteWriteTransaction();
  SqliteWriteTransaction(const SqliteWriteTransaction&) = delete;
  SqliteWriteTransaction& operator=(const SqliteWriteTransaction&) = delete;
  void commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

}  // namespace vmshare::store
