#include "auth/login_name.h"

namespace vmshare::auth {

bool valid_login_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxLoginNameBytes) return false;
  for (char c : name) {
    // Explicit ranges rather than isalnum(): that one depends on the locale.
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace vmshare::auth
