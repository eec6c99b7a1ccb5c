#pragma once
// The two UserStore backends as test fixtures: a fresh SQLite directory, or a fresh
// PostgreSQL schema (search_path in the URL) on the server from VMSHARE_TEST_DATABASE_URL.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <type_traits>

#include "store/pg_user_store.h"
#include "store/sqlite_user_store.h"
#include "test_support.h"

namespace vmshare::store::test {

struct SqliteBackend {
  using Store = SqliteUserStore;
  TempDir dir;
  std::string error;  // non-empty: the backend cannot run
  std::unique_ptr<Store> open() { return std::make_unique<Store>(dir.path().string()); }
  Config config() const {
    Config c;
    c.data_dir = (dir.path() / "nested" / "data").string();
    return c;
  }
};

inline constexpr const char* kPgEnv = "VMSHARE_TEST_DATABASE_URL";

// A URL whose connections use `schema` (libpq's options parameter sets search_path).
inline std::string pg_url_for_schema(const std::string& base, const std::string& schema) {
  return base + (base.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3D" + schema;
}

struct PgBackend {
  using Store = PgUserStore;
  std::string base = env_or_empty(kPgEnv);
  std::string schema = unique_name("s");
  std::string url;
  std::string error;

  PgBackend() {
    if (base.empty()) {
      error = missing_env_message(kPgEnv);
      return;
    }
    try {
      pqxx::connection c(base);
      pqxx::work tx(c);
      tx.exec0("CREATE SCHEMA " + tx.quote_name(schema));
      tx.commit();
      url = pg_url_for_schema(base, schema);
    } catch (const std::exception& e) {
      error = std::string("cannot prepare a PostgreSQL schema: ") + e.what();
    }
  }
  ~PgBackend() {
    if (url.empty()) return;
    try {
      pqxx::connection c(base);
      pqxx::work tx(c);
      tx.exec0("DROP SCHEMA " + tx.quote_name(schema) + " CASCADE");
      tx.commit();
    } catch (...) {
    }
  }
  std::unique_ptr<Store> open() { return std::make_unique<Store>(url, 4); }
  Config config() const {
    Config c;
    c.database_url = url;
    c.db_pool_size = 2;
    return c;
  }
};

// A fresh store of one backend per test; the typed suites derive their fixtures from it and
// run over both backends: TYPED_TEST_SUITE(X, Backends, BackendNames).
template <class Backend>
class UserStoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_.error.empty()) GTEST_FAIL() << backend_.error;
    store_ = backend_.open();
  }
  // A new user whose storage quota is `capacity_mb`.
  User user_with_quota(const std::string& prefix, std::int64_t capacity_mb) {
    auto login = unique_name(prefix);
    auto u = store_->create_user(login, "h", "user");
    EXPECT_TRUE(store_->set_quota(login, capacity_mb));
    return *store_->find_by_id(u.id);
  }
  std::int64_t stored(const User& u) { return store_->find_by_id(u.id)->snapshot_stored; }

  Backend backend_;
  std::unique_ptr<typename Backend::Store> store_;
};

using Backends = ::testing::Types<SqliteBackend, PgBackend>;
struct BackendNames {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteBackend> ? "sqlite" : "postgresql";
  }
};

}  // namespace vmshare::store::test
