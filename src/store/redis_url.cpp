#include "store/redis_url.h"

#include <charconv>
#include <stdexcept>
#include <string_view>

namespace vmshare::store {
namespace {

constexpr std::string_view kScheme = "redis://";

int parse_int(std::string_view s, int lo, int hi, const char* what) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi)
    throw std::invalid_argument(std::string("redis url: bad ") + what);
  return v;
}

// Userinfo may be percent-encoded (passwords often contain '@', ':' or '/').
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int v = 0;
      if (i + 2 >= s.size()) throw std::invalid_argument("redis url: bad percent escape");
      auto hex = s.substr(i + 1, 2);
      auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
      if (hex.size() != 2 || ec != std::errc() || p != hex.data() + 2)
        throw std::invalid_argument("redis url: bad percent escape");
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

RedisUrl parse_redis_url(const std::string& url) {
  std::string_view s = url;
  if (s.substr(0, kScheme.size()) != kScheme)
    throw std::invalid_argument("redis url: must start with redis://");
  s.remove_prefix(kScheme.size());

  RedisUrl out;
  // The last '@' ends the userinfo: an unencoded '@' in a password still parses.
  auto at = s.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = s.substr(0, at);
    s.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // redis://secret@host is how many clients spell a password-only URL.
      out.password = percent_decode(userinfo);
    } else {
      out.username = percent_decode(userinfo.substr(0, colon));
      out.password = percent_decode(userinfo.substr(colon + 1));
    }
  }

  auto slash = s.find('/');
  auto hostport = s.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto path = s.substr(slash + 1);
    path = path.substr(0, path.find('?'));
    if (!path.empty()) out.db = parse_int(path, 0, 1 << 20, "database number");
  }
  if (!hostport.empty() && hostport.front() == '[') {  // [::1]:6379
    auto close = hostport.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("redis url: bad host");
    out.host = std::string(hostport.substr(1, close - 1));
    auto rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("redis url: bad host");
      out.port = parse_int(rest.substr(1), 1, 65535, "port");
    }
  } else {
    auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
      out.port = parse_int(hostport.substr(colon + 1), 1, 65535, "port");
      hostport = hostport.substr(0, colon);
    }
    out.host = std::string(hostport);
  }
  if (out.host.empty()) throw std::invalid_argument("redis url: missing host");
  return out;
}

}  // namespace vmshare::store
