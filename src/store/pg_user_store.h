#pragma once
// UserStore on PostgreSQL through a small connection pool. Construction never fails for an
// unreachable server: migrations run on the first call that reaches it.
#include <atomic>
#include <mutex>

#include "store/pg_pool.h"
#include "store/user_store.h"

namespace vmshare::store {

class PgUserStore final : public UserStore {
 public:
  PgUserStore(const std::string& url, std::size_t pool_size);

  User create_user(const std::string& login, const std::string& hashed_password,
                   const std::string& role) override;
  std::optional<User> find_by_login(const std::string& login) override;
  std::optional<User> find_by_id(std::int64_t id) override;
  bool set_role(const std::string& login, const std::string& role) override;
  bool set_quota(const std::string& login, std::int64_t capacity_mb) override;
  std::int64_t count_users() override;
  std::string backend_name() const override { return "postgresql"; }

  std::int64_t schema_version();
  // Tests only: raw SQL in its own transaction on a pooled connection.
  void execute_for_test(const std::string& sql);
  std::size_t pool_in_use() const { return pool_.in_use(); }

 private:
  // Runs fn(connection) once the schema is current.
  template <class F>
  auto with_conn(F&& fn);
  void migrate(pqxx::connection& conn);

  PgPool pool_;
  std::atomic<bool> migrated_{false};
  std::mutex migrate_mu_;
};

}  // namespace vmshare::store
