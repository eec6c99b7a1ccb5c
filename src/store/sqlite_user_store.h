#pragma once
// UserStore on one SQLite file, <data_dir>/vmshare.db; one connection behind a mutex.
#include <mutex>

#include "store/sqlite_db.h"
#include "store/user_store.h"

namespace vmshare::store {

class SqliteUserStore final : public UserStore {
 public:
  // Creates data_dir if needed and applies pending migrations.
  explicit SqliteUserStore(const std::string& data_dir);

  User create_user(const std::string& login, const std::string& hashed_password,
                   const std::string& role) override;
  std::optional<User> find_by_login(const std::string& login) override;
  std::optional<User> find_by_id(std::int64_t id) override;
  bool set_role(const std::string& login, const std::string& role) override;
  bool set_quota(const std::string& login, std::int64_t capacity_mb) override;
  std::int64_t count_users() override;
  std::string backend_name() const override { return "sqlite"; }

  // Highest applied migration version.
  std::int64_t schema_version();
  // Tests only: raw SQL on the store's connection (e.g. to prove the CHECK constraint holds).
  void execute_for_test(const std::string& sql);

 private:
  void migrate();

  std::mutex mu_;
  SqliteDb db_;
};

}  // namespace vmshare::store
