#include <spdlog/spdlog.h>

#include "store/pg_user_store.h"
#include "store/sqlite_user_store.h"
#include "store/user_store.h"

namespace vmshare::store {

std::unique_ptr<UserStore> make_user_store(const Config& config) {
  const auto& url = config.database_url;
  if (url.empty()) {
    spdlog::info("store: users in SQLite (vmshare.db in the data folder)");
    return std::make_unique<SqliteUserStore>(config.data_dir);
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return std::make_unique<PgUserStore>(url, static_cast<std::size_t>(config.db_pool_size));
  // Never echo the URL: it may hold a password.
  throw ConfigError("DATABASE_URL: expected postgresql:// or postgres://");
}

}  // namespace vmshare::store
