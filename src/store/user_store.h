#pragma once
// Users and their snapshot quota: SQLite by default, PostgreSQL in production.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/config.h"
#include "core/errors.h"

namespace vmshare::store {

struct User {
  std::int64_t id = 0;
  std::string login;
  std::string hashed_password;
  std::string role = "user";
  std::int64_t snapshot_storage_capacity = 300;  // MB
  std::int64_t snapshot_stored = 0;              // MB
};

// create_user on a login that exists.
struct LoginTaken : std::runtime_error {
  LoginTaken() : std::runtime_error("login taken") {}
};

// Every method is blocking (call it from a worker thread, never an I/O thread) and thread-safe.
// Database unreachable: throws vmshare::ServiceUnavailable; the next call tries to reconnect.
class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual User create_user(const std::string& login, const std::string& hashed_password,
                           const std::string& role) = 0;  // throws LoginTaken
  virtual std::optional<User> find_by_login(const std::string& login) = 0;
  virtual std::optional<User> find_by_id(std::int64_t id) = 0;
  virtual bool set_role(const std::string& login, const std::string& role) = 0;  // false: no such user
  // false: no such user. A capacity below the user's snapshot_stored (or negative) throws
  // std::invalid_argument and changes nothing; the database's CHECK constraint decides.
  virtual bool set_quota(const std::string& login, std::int64_t capacity_mb) = 0;
  virtual std::int64_t count_users() = 0;
  virtual std::string backend_name() const = 0;  // "sqlite" | "postgresql"
};

// SQLite file <data_dir>/vmshare.db when database_url is empty, PostgreSQL for postgresql:// or
// postgres:// (another scheme: ConfigError).
// Applies migrations. An unreachable PostgreSQL at start-up does not throw: calls give 503 until
// it is back.
std::unique_ptr<UserStore> make_user_store(const Config& config);

}  // namespace vmshare::store
