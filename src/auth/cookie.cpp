#include "auth/cookie.h"

#include <algorithm>
#include <stdexcept>

namespace vmshare::auth {
namespace {

constexpr std::string_view kCookieName = "access_token";

// cookie-octet from RFC 6265 §4.1.1.
bool is_cookie_octet(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

std::string build(std::string_view value, int max_age_s, bool secure) {
  std::string out;
  out.append(kCookieName).append("=").append(value).append("; HttpOnly");
  if (secure) out.append("; Secure");
  out.append("; SameSite=Lax; Path=/; Max-Age=").append(std::to_string(std::max(0, max_age_s)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string access_token_cookie(const std::string& token, int max_age_s, bool secure) {
  if (!std::all_of(token.begin(), token.end(), is_cookie_octet))
    throw std::invalid_argument("token is not a valid cookie value");
  return build(token, max_age_s, secure);
}

std::string clear_access_token_cookie(bool secure) { return build("", 0, secure); }

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);

    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // not a name=value pair
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

}  // namespace vmshare::auth
