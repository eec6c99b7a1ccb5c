#include "store/pg_pool.h"

#include <spdlog/spdlog.h>

#include "store/url_redaction.h"

namespace vmshare::store {
namespace {
constexpr int kConnectTimeoutS = 3;
}

std::string with_connect_timeout(const std::string& url, int seconds) {
  if (url.find("connect_timeout=") != std::string::npos) return url;
  const char sep = url.find('?') == std::string::npos ? '?' : '&';
  return url + sep + "connect_timeout=" + std::to_string(seconds);
}

PgPool::PgPool(const std::string& url, std::size_t size)
    : conninfo_(with_connect_timeout(url, kConnectTimeoutS)),
      redacted_url_(redact_url(url)),
      pool_(size, [this] { return std::make_unique<pqxx::connection>(conninfo_); }) {}

ConnectionPool<pqxx::connection>::Lease PgPool::acquire() {
  try {
    return pool_.acquire();
  } catch (const pqxx::broken_connection& e) {
    unavailable(e.what());
  }
}

void PgPool::unavailable(const char* what) const {
  // libpq's messages name host and port, never the password.
  spdlog::warn("store: PostgreSQL {} unavailable: {}", redacted_url_, what);
  throw ServiceUnavailable("database unavailable");
}

bool PgPool::is_outage(const std::string& sqlstate) {
  // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

}  // namespace vmshare::store
