#include "auth/origin_check.h"

#include <charconv>

namespace vmshare::auth {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_reg_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

bool is_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

// Splits "host[:port]" (host possibly "[v6]") of an already lower-cased authority.
// port is empty when absent.
bool split_authority(std::string_view auth, std::string_view& host, std::string_view& port) {
  if (auth.empty()) return false;
  if (auth.front() == '[') {
    const auto close = auth.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = auth.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2))
      if (!is_ipv6_char(c)) return false;
    auto rest = auth.substr(close + 1);
    if (rest.empty()) {
      port = {};
      return true;
    }
    if (rest.front() != ':' || rest.size() == 1) return false;
    port = rest.substr(1);
  } else {
    const auto colon = auth.find(':');
    host = auth.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view{} : auth.substr(colon + 1);
    // "host:" with an empty port is legal in a URL but never in an Origin; refuse it.
    if (host.empty() || (colon != std::string_view::npos && port.empty())) return false;
    for (char c : host)
      if (!is_reg_name_char(c)) return false;
  }
  if (port.empty()) return true;
  if (port.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc{} && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

// Builds the normalised origin; a port equal to the scheme's default is left out so
// "https://a" and "https://a:443" compare equal.
std::optional<std::string> normalise(std::string_view scheme, std::string_view authority) {
  const std::string auth = lowered(authority);
  std::string_view host, port;
  if (!split_authority(auth, host, port)) return std::nullopt;
  // Strip leading zeros so "8000" and "08000" agree.
  while (port.size() > 1 && port.front() == '0') port.remove_prefix(1);
  const bool default_port =
      (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
  std::string out(scheme);
  out.append("://").append(host);
  if (!port.empty() && !default_port) out.append(":").append(port);
  return out;
}

}  // namespace

std::optional<std::string> origin_of_referer(std::string_view referer) {
  const auto sep = referer.find("://");
  if (sep == std::string_view::npos) return std::nullopt;  // includes "null"
  const std::string scheme = lowered(referer.substr(0, sep));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string_view rest = referer.substr(sep + 3);
  const auto end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  // User-info has no place in an origin, and "good.example@evil.example" only serves to confuse.
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  return normalise(scheme, authority);
}

bool origin_allowed(std::string_view origin_or_referer, std::string_view host_header,
                    const std::vector<std::string>& allowed_origins) {
  const auto origin = origin_of_referer(origin_or_referer);
  if (!origin) return false;
  // Behind a TLS-terminating proxy we cannot tell which scheme the browser used for our own
  // host, so both are this site.
  if (!host_header.empty()) {
    for (std::string_view scheme : {"http", "https"}) {
      const auto self = normalise(scheme, host_header);
      if (self && *self == *origin) return true;
    }
  }
  for (const auto& allowed : allowed_origins) {
    const auto entry = origin_of_referer(allowed);
    if (entry && *entry == *origin) return true;
  }
  return false;
}

}  // namespace vmshare::auth
