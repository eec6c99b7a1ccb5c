#include "store/sqlite_user_store.h"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "store/migrations.h"

namespace vmshare::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr const char* kUserColumns =
    "id, login, hashed_password, role, snapshot_storage_capacity, snapshot_stored";

std::string db_path(const std::string& data_dir) {
  std::filesystem::create_directories(data_dir);
  return (std::filesystem::path(data_dir) / "vmshare.db").string();
}

User read_user(const SqliteStatement& st) {
  User u;
  u.id = st.column_int(0);
  u.login = st.column_text(1);
  u.hashed_password = st.column_text(2);
  u.role = st.column_text(3);
  u.snapshot_storage_capacity = st.column_int(4);
  u.snapshot_stored = st.column_int(5);
  return u;
}

}  // namespace

SqliteUserStore::SqliteUserStore(const std::string& data_dir)
    : db_(db_path(data_dir), kBusyTimeoutMs) {
  migrate();
}

void SqliteUserStore::migrate() {
  std::lock_guard lock(mu_);
  // IMMEDIATE takes the write lock up front, so two processes opening one file apply each
  // version once.
  SqliteWriteTransaction tx(db_);
  db_.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)");
  auto st = db_.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  st.step();
  const auto current = st.column_int(0);
  const auto& steps = sqlite_migrations();
  for (std::size_t v = static_cast<std::size_t>(current) + 1; v <= steps.size(); ++v) {
    db_.exec(steps[v - 1]);
    db_.prepare("INSERT INTO schema_migrations (version) VALUES (?)")
        .bind(1, static_cast<std::int64_t>(v))
        .step();
    spdlog::info("store: sqlite schema migrated to version {}", v);
  }
  tx.commit();
}

User SqliteUserStore::create_user(const std::string& login, const std::string& hashed_password,
                                  const std::string& role) {
  std::lock_guard lock(mu_);
  try {
    auto st = db_.prepare(std::string("INSERT INTO users (login, hashed_password, role) VALUES "
                                      "(?, ?, ?) RETURNING ") + kUserColumns);
    st.bind(1, login).bind(2, hashed_password).bind(3, role);
    st.step();
    User u = read_user(st);
    while (st.step()) {
    }  // RETURNING commits when the statement finishes
    return u;
  } catch (const SqliteError& e) {
    if (e.code == SQLITE_CONSTRAINT_UNIQUE || e.code == SQLITE_CONSTRAINT_PRIMARYKEY)
      throw LoginTaken();
    throw;
  }
}

std::optional<User> SqliteUserStore::find_by_login(const std::string& login) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE login = ?";
  auto st = db_.prepare_cached(sql);
  st.bind(1, login);
  if (!st.step()) return std::nullopt;
  return read_user(st);
}

std::optional<User> SqliteUserStore::find_by_id(std::int64_t id) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?";
  auto st = db_.prepare_cached(sql);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_user(st);
}

bool SqliteUserStore::set_role(const std::string& login, const std::string& role) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE users SET role = ? WHERE login = ?").bind(1, role).bind(2, login).step();
  return db_.changes() > 0;
}

bool SqliteUserStore::set_quota(const std::string& login, std::int64_t capacity_mb) {
  if (capacity_mb < 0) throw std::invalid_argument("quota: capacity must not be negative");
  std::lock_guard lock(mu_);
  try {
    db_.prepare("UPDATE users SET snapshot_storage_capacity = ? WHERE login = ?")
        .bind(1, capacity_mb)
        .bind(2, login)
        .step();
  } catch (const SqliteError& e) {
    if (e.code == SQLITE_CONSTRAINT_CHECK)
      throw std::invalid_argument("quota: capacity below the space already stored");
    throw;
  }
  return db_.changes() > 0;
}

std::int64_t SqliteUserStore::count_users() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT COUNT(*) FROM users");
  st.step();
  return st.column_int(0);
}

std::int64_t SqliteUserStore::schema_version() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  st.step();
  return st.column_int(0);
}

void SqliteUserStore::execute_for_test(const std::string& sql) {
  std::lock_guard lock(mu_);
  db_.exec(sql);
}

}  // namespace vmshare::store
