#pragma once
// The access_token cookie: building Set-Cookie values and reading a request's Cookie header.
#include <optional>
#include <string>
#include <string_view>

namespace vmshare::auth {

// "access_token=<token>; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=<n>" ("Secure" only
// when secure). Throws std::invalid_argument if token has characters a cookie value cannot hold
// (';', ',', spaces, quotes, controls...), so it can never inject attributes or headers.
// A negative max_age_s is written as 0.
std::string access_token_cookie(const std::string& token, int max_age_s, bool secure);

// The same cookie, empty and expired, so the browser drops it.
std::string clear_access_token_cookie(bool secure);

// Value of the first cookie called `name` (case-sensitive, as RFC 6265 says) in a Cookie header,
// surrounding double quotes removed. nullopt when absent.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace vmshare::auth
