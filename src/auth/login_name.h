#pragma once
// Which login names we accept: short, and safe to show in logs, URLs and file names.
#include <string_view>

namespace vmshare::auth {

constexpr std::size_t kMaxLoginNameBytes = 64;

// 1..64 characters from [A-Za-z0-9_.-].
bool valid_login_name(std::string_view name);

}  // namespace vmshare::auth
