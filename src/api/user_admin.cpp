#include "api/user_admin.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "auth/login_name.h"
#include "api/sign_in_limits.h"
#include "auth/password_hasher.h"
#include "auth/throttle_key.h"
#include "store/session_store.h"
#include "store/user_store.h"

namespace vmshare::api {

int admin_create_user(const Config& config, const std::string& login, bool admin, std::istream& password_in) {
  if (!auth::valid_login_name(login)) {
    std::cerr << "vmshare: login must be 1-64 characters: letters, digits, '_', '.', '-'\n";
    return 2;
  }
  std::string password;
  std::getline(password_in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.size() < 8 || password.size() > auth::kBcryptMaxPasswordBytes) {
    std::cerr << "vmshare: the password (one line on stdin) must be 8 to 72 bytes\n";
    return 2;
  }
  auto users = store::make_user_store(config);
  try {
    auto user = users->create_user(login, auth::hash_password(password, config.bcrypt_cost), admin ? "admin" : "user");
    std::cout << "created user " << user.login << " (id " << user.id << ", role " << user.role << ")\n";
    return 0;
  } catch (const store::LoginTaken&) {
    std::cerr << "vmshare: login " << login << " already exists\n";
    return 1;
  }
}

int admin_set_role(const Config& config, const std::string& login, const std::string& role) {
  auto users = store::make_user_store(config);
  if (!users->set_role(login, role)) {
    std::cerr << "vmshare: no user " << login << "\n";
    return 1;
  }
  std::cout << "user " << login << " now has role " << role << "\n";
  return 0;
}

int admin_set_quota(const Config& config, const std::string& login, std::int64_t capacity_mb) {
  auto users = store::make_user_store(config);
  try {
    if (!users->set_quota(login, capacity_mb)) {
      std::cerr << "vmshare: no user " << login << "\n";
      return 1;
    }
  } catch (const std::invalid_argument& e) {
    std::cerr << "vmshare: " << e.what() << "\n";
    return 1;
  }
  std::cout << "user " << login << " snapshot capacity is now " << capacity_mb << " MB\n";
  return 0;
}

int admin_unlock(const Config& config, const std::string& login, const std::string& address) {
  if (!auth::valid_login_name(login)) {
    std::cerr << "vmshare: login must be 1-64 characters: letters, digits, '_', '.', '-'\n";
    return 2;
  }
  std::vector<std::string> keys{auth::login_failure_key(login)};
  if (!address.empty()) keys.push_back(auth::address_failure_key(address));
  if (!config.redis_url.empty()) {
    auto sessions = store::make_session_store(config);
    for (const auto& k : keys) sessions->clear_counter(k);
    std::cout << "unlocked " << login << (address.empty() ? "" : " and " + address) << "\n";
    return 0;
  }
  // In-process counters: leave requests the server takes up at the next attempt.
  namespace fs = std::filesystem;
  for (const auto& k : keys) {
    const fs::path file = unlock_request_file(config, k);
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    std::ofstream(file) << "unlock\n";
    if (!fs::exists(file, ec)) {
      std::cerr << "vmshare: cannot write to " << file.parent_path().string() << "\n";
      return 1;
    }
  }
  std::cout << "unlock of " << login << (address.empty() ? "" : " and " + address)
            << " requested: the server applies it at the next attempt\n";
  return 0;
}

}  // namespace vmshare::api
