#pragma once
// The two UserStore backends as test fixtures: a fresh SQLite directory, or a fresh
// PostgreSQL schema (search_path in the URL) on the server from VMSHARE_TEST_DATABASE_URL.
#include <pqxx/pqxx>

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

}  // namespace vmshare::store::test
