#include "obs/metrics_access.h"

#include <strings.h>

namespace vmshare::obs {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Time depends on the lengths only, never on where the first difference is.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

MetricsAccess metrics_access(bool remote_is_loopback, const std::string* authorization,
                             const std::string& metrics_token) {
  if (remote_is_loopback) return MetricsAccess::allow;
  if (authorization && !metrics_token.empty() && authorization->size() > 7 &&
      strncasecmp(authorization->c_str(), "Bearer ", 7) == 0) {
    std::string_view token(*authorization);
    token.remove_prefix(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (constant_time_equal(token, metrics_token)) return MetricsAccess::allow;
  }
  return MetricsAccess::needs_admin;
}

}  // namespace vmshare::obs
