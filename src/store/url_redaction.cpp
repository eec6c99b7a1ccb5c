#include "store/url_redaction.h"

namespace vmshare::store {
namespace {

// libpq also accepts ?password=... in the query string.
std::string redact_password_param(std::string url) {
  for (auto pos = url.find("password="); pos != std::string::npos;
       pos = url.find("password=", pos + 1)) {
    if (pos == 0 || (url[pos - 1] != '?' && url[pos - 1] != '&')) continue;
    auto start = pos + 9;
    auto end = url.find('&', start);
    url.replace(start, end == std::string::npos ? std::string::npos : end - start, "***");
  }
  return url;
}

}  // namespace

std::string redact_url(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "***";  // not a URL: it might be anything
  auto auth_start = scheme_end + 3;
  // The last '@' anywhere: an unencoded '/' or '@' in a password must not leak. An '@' later
  // in the path only hides more than needed.
  auto at = url.rfind('@');
  if (at == std::string::npos || at < auth_start) return redact_password_param(url);
  auto colon = url.find(':', auth_start);
  if (colon != std::string::npos && colon < at)
    return url.substr(0, colon + 1) + "***" + redact_password_param(url.substr(at));
  // A lone userinfo is a password for redis:// URLs (a user name elsewhere).
  if (url.compare(0, 8, "redis://") == 0)
    return url.substr(0, auth_start) + "***" + redact_password_param(url.substr(at));
  return redact_password_param(url);
}

}  // namespace vmshare::store
