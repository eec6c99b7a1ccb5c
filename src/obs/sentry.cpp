#include "obs/sentry.h"

#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "obs/http_client.h"

namespace vmshare::obs {

std::optional<SentryDsn> parse_sentry_dsn(const std::string& dsn) {
  const auto scheme_end = dsn.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  const std::string scheme = dsn.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const std::string rest = dsn.substr(scheme_end + 3);
  const auto at = rest.find('@');
  const auto first_slash = rest.find('/');
  if (at == std::string::npos || (first_slash != std::string::npos && at > first_slash)) return std::nullopt;
  SentryDsn out;
  const std::string userinfo = rest.substr(0, at);
  const auto colon = userinfo.find(':');
  out.public_key = userinfo.substr(0, colon);
  if (colon != std::string::npos) out.secret_key = userinfo.substr(colon + 1);
  if (out.public_key.empty()) return std::nullopt;
  std::string host_path = rest.substr(at + 1);
  if (auto q = host_path.find_first_of("?#"); q != std::string::npos) host_path.resize(q);
  while (!host_path.empty() && host_path.back() == '/') host_path.pop_back();
  const auto slash = host_path.find('/');
  const auto last = host_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  out.project = host_path.substr(last + 1);
  if (out.project.empty()) return std::nullopt;
  const std::string host = host_path.substr(0, slash);
  const std::string prefix = host_path.substr(slash, last - slash);  // "" or "/prefix"
  out.store_url = scheme + "://" + host + prefix + "/api/" + out.project + "/store/";
  return out;
}

std::string sentry_auth_header(const SentryDsn& dsn, std::int64_t unix_time) {
  std::string h = fmt::format("Sentry sentry_version=7, sentry_client=vmshare/1.0, sentry_timestamp={}, sentry_key={}",
                              unix_time, dsn.public_key);
  if (!dsn.secret_key.empty()) h += ", sentry_secret=" + dsn.secret_key;
  return h;
}

nlohmann::json sentry_event(const std::string& message, const std::string& level,
                            const std::vector<std::pair<std::string, std::string>>& tags,
                            const std::string& server_name, std::int64_t unix_time) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string event_id = fmt::format("{:016x}{:016x}", rng(), rng());
  nlohmann::json tag_obj = nlohmann::json::object();
  for (const auto& [k, v] : tags) tag_obj[k] = v;
  return {{"event_id", event_id},
          {"timestamp", unix_time},
          {"level", level},
          {"logger", "vmshare.watchdog"},
          {"platform", "native"},
          {"server_name", server_name},
          {"message", {{"formatted", message}}},
          {"tags", tag_obj}};
}

void sentry_send(const SentryDsn& dsn, const nlohmann::json& event) {
  HttpRequest req;
  req.method = "POST";
  req.url = dsn.store_url;
  req.body = event.dump();
  req.timeout = std::chrono::seconds(10);
  req.max_response_bytes = 64 << 10;
  req.headers = {{"Content-Type", "application/json"},
                 {"X-Sentry-Auth", sentry_auth_header(dsn, event.value("timestamp", std::int64_t{0}))}};
  HttpResponse res;
  try {
    res = http_request(req);
  } catch (const HttpError& e) {
    throw std::runtime_error(std::string("Sentry unreachable: ") + e.what());
  }
  if (res.status < 200 || res.status >= 300) throw std::runtime_error(fmt::format("Sentry answered HTTP {}", res.status));
}

}  // namespace vmshare::obs
