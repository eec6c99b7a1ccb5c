#include "store/pg_user_store.h"

#include <spdlog/spdlog.h>

#include "store/migrations.h"

namespace vmshare::store {
namespace {

// One key for every vmshare node: start-up migrations run one node at a time.
constexpr std::int64_t kMigrationLockKey = 0x766d7368617265;  // "vmshare"
constexpr const char* kUserColumns =
    "id, login, hashed_password, role, snapshot_storage_capacity, snapshot_stored";

User read_user(const pqxx::row& r) {
  User u;
  u.id = r[0].as<std::int64_t>();
  u.login = r[1].as<std::string>();
  u.hashed_password = r[2].as<std::string>();
  u.role = r[3].as<std::string>();
  u.snapshot_storage_capacity = r[4].as<std::int64_t>();
  u.snapshot_stored = r[5].as<std::int64_t>();
  return u;
}

std::optional<User> first_user(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_user(res[0]);
}

}  // namespace

PgUserStore::PgUserStore(const std::string& url, std::size_t pool_size) : pool_(url, pool_size) {
  try {
    with_conn(DbOp::other, [](pqxx::connection&) { return 0; });
    spdlog::info("store: PostgreSQL {} ready", pool_.redacted_url());
  } catch (const ServiceUnavailable&) {
    // Already logged by the pool; calls answer 503 until the server is back.
    spdlog::warn("store: starting without PostgreSQL; will reconnect on demand");
  }
}

void PgUserStore::migrate(pqxx::connection& conn) {
  std::lock_guard lock(migrate_mu_);
  if (migrated_.load()) return;
  pqxx::work tx(conn);
  tx.exec0("SET LOCAL client_min_messages = warning");  // no "already exists" notices on stderr
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
  tx.exec0(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
  const auto current =
      tx.exec1("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0].as<std::int64_t>();
  const auto& steps = pg_migrations();
  std::vector<std::size_t> applied;
  for (std::size_t v = static_cast<std::size_t>(current) + 1; v <= steps.size(); ++v) {
    tx.exec0(steps[v - 1]);
    tx.exec_params0("INSERT INTO schema_migrations (version) VALUES ($1)", static_cast<int>(v));
    applied.push_back(v);
  }
  tx.commit();
  for (auto v : applied) spdlog::info("store: PostgreSQL schema migrated to version {}", v);
  migrated_.store(true);
}

User PgUserStore::create_user(const std::string& login, const std::string& hashed_password,
                              const std::string& role) {
  return with_conn(DbOp::insert, [&](pqxx::connection& c) {
    try {
      pqxx::work tx(c);
      auto row = tx.exec_params1(std::string("INSERT INTO users (login, hashed_password, role) "
                                             "VALUES ($1, $2, $3) RETURNING ") +
                                     kUserColumns,
                                 login, hashed_password, role);
      tx.commit();
      return read_user(row);
    } catch (const pqxx::unique_violation&) {
      throw LoginTaken();
    }
  });
}

std::optional<User> PgUserStore::find_by_login(const std::string& login) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first_user(tx.exec_params(
        std::string("SELECT ") + kUserColumns + " FROM users WHERE login = $1", login));
  });
}

std::optional<User> PgUserStore::find_by_id(std::int64_t id) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first_user(
        tx.exec_params(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1", id));
  });
}

bool PgUserStore::set_role(const std::string& login, const std::string& role) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE users SET role = $1 WHERE login = $2", role, login);
    tx.commit();
    return res.affected_rows() > 0;
  });
}

bool PgUserStore::set_quota(const std::string& login, std::int64_t capacity_mb) {
  if (capacity_mb < 0) throw std::invalid_argument("quota: capacity must not be negative");
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    try {
      pqxx::work tx(c);
      auto res = tx.exec_params(
          "UPDATE users SET snapshot_storage_capacity = $1 WHERE login = $2", capacity_mb, login);
      tx.commit();
      return res.affected_rows() > 0;
    } catch (const pqxx::check_violation&) {
      throw std::invalid_argument("quota: capacity below the space already stored");
    }
  });
}

std::int64_t PgUserStore::count_users() {
  return with_conn(DbOp::select, [](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec1("SELECT COUNT(*) FROM users")[0].as<std::int64_t>();
  });
}

std::int64_t PgUserStore::schema_version() {
  return with_conn(DbOp::select, [](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec1("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0]
        .as<std::int64_t>();
  });
}

void PgUserStore::execute_for_test(const std::string& sql) {
  with_conn(DbOp::other, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec0(sql);
    tx.commit();
    return 0;
  });
}

}  // namespace vmshare::store
