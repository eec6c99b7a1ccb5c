#pragma once
#include <cstdint>
#include <ctime>
#include <string>

namespace vmshare::api {

// Unix seconds as ISO 8601 UTC ("2026-11-28T12:00:00Z"), what browsers' Date() parses.
inline std::string iso8601(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace vmshare::api
