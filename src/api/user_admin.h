#pragma once
// `vmshare user ...`: the operator's commands, on the same configuration as the server.
#include <cstdint>
#include <istream>
#include <string>

#include "core/config.h"

namespace vmshare::api {

// Each returns a process exit code and prints a one-line result or error.
int admin_create_user(const Config& config, const std::string& login, bool admin, std::istream& password_in);
int admin_set_role(const Config& config, const std::string& login, const std::string& role);
int admin_set_quota(const Config& config, const std::string& login, std::int64_t capacity_mb);
// Clears the sign-in lock of a login (any login name, existing or not) and, if `address` is
// given, that address's failures. With Redis at once; in process at the next attempt.
int admin_unlock(const Config& config, const std::string& login, const std::string& address);

}  // namespace vmshare::api
