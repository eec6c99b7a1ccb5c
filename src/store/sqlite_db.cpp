#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "core/errors.h"
#include "store/db_observer.h"

namespace vmshare::store {

SqliteDb::SqliteDb(const std::string& path, int busy_timeout_ms) {
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw ServiceUnavailable("sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  // WAL: readers do not block the writer; NORMAL sync is durable enough with WAL. Turning a new
  // file to WAL while another connection opens it can fail with "database is locked" without the
  // busy handler being consulted (seen with four stores opening one fresh file): retried here
  // within the same timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  for (;;) {
    const int wal = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (wal == SQLITE_OK) break;
    const bool busy = (wal & 0xff) == SQLITE_BUSY || (wal & 0xff) == SQLITE_LOCKED;
    if (!busy || std::chrono::steady_clock::now() >= deadline) {
      try {
        fail(wal, "exec");
      } catch (...) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : cached_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void SqliteDb::fail(int rc, const std::string& context) const {
  std::string msg = context + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
      throw ServiceUnavailable("sqlite: " + msg);
    default:
      throw SqliteError(rc, "sqlite: " + msg);
  }
}

void SqliteDb::exec(const std::string& sql) {
  DbTimer timer(sql_op(sql.c_str()));
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the message is read again from the handle in fail()
  if (rc != SQLITE_OK) fail(rc, "exec");
}

SqliteStatement SqliteDb::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc, "prepare");
  return SqliteStatement(*this, stmt);
}

SqliteStatement SqliteDb::prepare_cached(const std::string& sql) {
  auto it = cached_.find(sql);
  if (it == cached_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) fail(rc, "prepare");
    it = cached_.emplace(sql, stmt).first;
  }
  return SqliteStatement(*this, it->second, /*owned=*/false);
}

std::int64_t SqliteDb::changes() const { return sqlite3_changes(db_); }

SqliteStatement::~SqliteStatement() {
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else if (stmt_) {
    sqlite3_reset(stmt_);  // ends the read, so the connection holds no snapshot open
    sqlite3_clear_bindings(stmt_);
  }
}

SqliteStatement& SqliteStatement::bind(int index, const std::string& value) {
  int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

bool SqliteStatement::step() {
  DbTimer timer(sql_op(sqlite3_sql(stmt_)));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail(rc, "step");
}

std::int64_t SqliteStatement::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string SqliteStatement::column_text(int index) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))) : "";
}

SqliteWriteTransaction::~SqliteWriteTransaction() {
  if (done_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {  // the connection is gone: SQLite rolled back already
  }
}

void SqliteWriteTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace vmshare::store
