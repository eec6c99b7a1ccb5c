#pragma once
// Sentry's store API: the DSN (https://<key>[:<secret>]@host[:port][/prefix]/<project>) gives the
// endpoint <scheme>://host[:port][/prefix]/api/<project>/store/ and the X-Sentry-Auth key.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmshare::obs {

struct SentryDsn {
  std::string store_url;
  std::string public_key;
  std::string secret_key;  // legacy DSNs only
  std::string project;
};

// nullopt for a malformed DSN (no key, no project, not http(s)).
std::optional<SentryDsn> parse_sentry_dsn(const std::string& dsn);
std::string sentry_auth_header(const SentryDsn& dsn, std::int64_t unix_time);
// A minimal event: message, level ("warning", "info", "error"), tags, server name.
nlohmann::json sentry_event(const std::string& message, const std::string& level,
                            const std::vector<std::pair<std::string, std::string>>& tags,
                            const std::string& server_name, std::int64_t unix_time);

// Posts the event; throws std::runtime_error (never naming the key) unless Sentry answers 2xx.
void sentry_send(const SentryDsn& dsn, const nlohmann::json& event);

}  // namespace vmshare::obs
