#pragma once
// Parsing redis://[[user]:password@]host[:port][/db] into its parts (a pure function).
#include <optional>
#include <string>

namespace vmshare::store {

struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string username;  // empty: the default user (AUTH <password>)
  std::string password;  // empty: no AUTH
  int db = 0;
};

// Throws std::invalid_argument on anything that is not a redis:// URL; the message never
// contains the password.
RedisUrl parse_redis_url(const std::string& url);

}  // namespace vmshare::store
