#pragma once
// Pure parts of the Grafana integration: the embeddable panel URL, and which headers cross the
// reverse proxy in each direction.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "obs/http_client.h"

namespace vmshare::obs {

struct BadPanelRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// <base>/d-solo/<uid>/vmshare?orgId=&panelId=&from=&to=&refresh=&theme=[&kiosk], every value
// validated and escaped. Defaults: uid "vmshare", panelId 1, from now-1h, to now, refresh 10s,
// theme dark, orgId 1, kiosk on (kiosk=0/false turns it off). Throws BadPanelRequest.
std::string panel_iframe_src(const std::string& base, const std::map<std::string, std::string>& params);

// Connection-level headers a proxy must not forward (RFC 9110 7.6.1), plus those named in Connection.
bool is_hop_by_hop(std::string_view name, std::string_view connection_header = {});

// The Cookie header without our own cookie (the session JWT never reaches Grafana); empty when
// nothing is left.
std::string strip_cookie(std::string_view cookie_header, std::string_view name);

// Whom Grafana's auth proxy should see (GRAFANA_AUTH_PROXY_HEADER): vmshare's signed-in user
// under `user_header` and, when `role` is set, that fixed role under kGrafanaRoleHeader.
// An empty user_header: no identity is sent.
struct GrafanaIdentity {
  std::string user_header;
  std::string login;
  std::string role;
};
inline constexpr std::string_view kGrafanaRoleHeader = "X-WEBAUTH-ROLE";

// Whether a browser's request header may reach Grafana: content negotiation, caching and
// conditional requests, Origin/Referer, Grafana's own X-Grafana-Org-Id and query tracing
// headers. Everything else (X-WEBAUTH-USER and any other identity header an auth proxy might
// trust, Authorization, hop-by-hop headers) stays here.
bool grafana_forwards_request_header(std::string_view name);

// Request headers for Grafana: only the allowlisted ones, our cookie removed from Cookie;
// X-Forwarded-For appended to, X-Forwarded-Host/Proto kept from a front proxy or derived from
// this request; then the identity, if any.
HeaderList grafana_request_headers(const HeaderList& incoming, const std::string& remote_address,
                                   const GrafanaIdentity& identity = {});
// Response headers for the browser: hop-by-hop and framing headers removed, as are those our
// server sets itself (Content-Type is returned through the response's own field).
HeaderList grafana_response_headers(const HeaderList& upstream);

std::string grafana_upstream_url(const std::string& grafana_url, const std::string& target);

// Where Grafana Live's WebSocket is: GRAFANA_URL's host and port (default 80) and its path
// joined with the request target. nullopt for an https:// GRAFANA_URL (no TLS client here) or
// one that is not plain http://host[:port][/path].
struct GrafanaWsTarget {
  std::string host;
  std::string port;
  std::string host_header;
  std::string target;
};
std::optional<GrafanaWsTarget> grafana_ws_target(const std::string& grafana_url, const std::string& target);

// The upgrade request's headers for Grafana: grafana_request_headers() plus the browser's
// Sec-WebSocket-Protocol offer (the WebSocket client sets Key/Version/Extensions itself);
// Origin passes on as for HTTP (Grafana checks it against its root_url).
HeaderList grafana_ws_request_headers(const HeaderList& incoming, const std::string& remote_address,
                                      const GrafanaIdentity& identity = {});

// The body length to announce to the browser: the upstream Content-Length when it frames the
// body (no Transfer-Encoding) and is a plain number; nullopt: send the body chunked.
std::optional<std::uint64_t> relayed_content_length(const HeaderList& upstream);

}  // namespace vmshare::obs
