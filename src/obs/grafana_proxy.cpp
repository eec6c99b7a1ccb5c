#include "obs/grafana_proxy.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/percent_encode.h"

namespace vmshare::obs {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool all_of(const std::string& s, bool (*ok)(char)) { return !s.empty() && std::all_of(s.begin(), s.end(), ok); }

std::string param(const std::map<std::string, std::string>& p, const char* key, const char* fallback) {
  auto it = p.find(key);
  return it == p.end() || it->second.empty() ? fallback : it->second;
}

}  // namespace

std::string panel_iframe_src(const std::string& base, const std::map<std::string, std::string>& p) {
  const std::string uid = param(p, "uid", "vmshare");
  const std::string panel = param(p, "panelId", "1");
  const std::string from = param(p, "from", "now-1h");
  const std::string to = param(p, "to", "now");
  const std::string refresh = param(p, "refresh", "10s");
  const std::string theme = param(p, "theme", "dark");
  const std::string org = param(p, "orgId", "1");
  const std::string kiosk = param(p, "kiosk", "1");

  if (uid.size() > 64 || !all_of(uid, [](char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '-'; }))
    throw BadPanelRequest("uid must be letters, digits, '_' or '-'");
  auto digits = [](char c) { return std::isdigit((unsigned char)c) != 0; };
  if (panel.size() > 9 || !all_of(panel, digits)) throw BadPanelRequest("panelId must be a number");
  if (org.size() > 9 || !all_of(org, digits)) throw BadPanelRequest("orgId must be a number");
  // Grafana time expressions: now-1h, now/d, epoch milliseconds, ISO dates.
  auto time_char = [](char c) {
    return std::isalnum((unsigned char)c) || c == '-' || c == '+' || c == '/' || c == ':' || c == '.';
  };
  if (from.size() > 40 || !all_of(from, time_char)) throw BadPanelRequest("from is not a time expression");
  if (to.size() > 40 || !all_of(to, time_char)) throw BadPanelRequest("to is not a time expression");
  if (refresh.size() > 10 || !all_of(refresh, [](char c) { return std::isalnum((unsigned char)c) != 0; }))
    throw BadPanelRequest("refresh must look like 10s or 1m");
  if (theme != "dark" && theme != "light") throw BadPanelRequest("theme must be dark or light");

  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  std::string src = b + "/d-solo/" + uid + "/vmshare?orgId=" + org + "&panelId=" + panel + "&from=" + percent_encode(from) +
                    "&to=" + percent_encode(to) + "&refresh=" + percent_encode(refresh) + "&theme=" + theme;
  if (kiosk != "0" && kiosk != "false") src += "&kiosk";
  return src;
}

bool is_hop_by_hop(std::string_view name, std::string_view connection_header) {
  for (const char* h : {"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
                        "TE", "Trailer", "Trailers", "Transfer-Encoding", "Upgrade"})
    if (iequals(name, h)) return true;
  // Headers the Connection header names are hop-by-hop too.
  std::size_t pos = 0;
  while (pos <= connection_header.size() && !connection_header.empty()) {
    auto end = connection_header.find(',', pos);
    if (end == std::string_view::npos) end = connection_header.size();
    auto token = connection_header.substr(pos, end - pos);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (!token.empty() && iequals(token, name)) return true;
    pos = end + 1;
  }
  return false;
}

std::string strip_cookie(std::string_view header, std::string_view name) {
  std::string out;
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    auto pair = header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (!pair.empty() && key != name) {
      if (!out.empty()) out += "; ";
      out += pair;
    }
    pos = end + 1;
  }
  return out;
}

bool grafana_forwards_request_header(std::string_view name) {
  // An allowlist, not a denylist: a header Grafana (or a plugin, or an auth proxy setting)
  // trusts must never arrive from a browser just because nobody thought to block it.
  static constexpr std::string_view kAllowed[] = {
      "Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Content-Type", "Cookie", "If-Match",
      "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Origin", "Pragma", "Range",
      "Referer", "User-Agent", "X-Requested-With",
      // Sent by Grafana's own front end: the organisation chosen, cache bypass, and the headers
      // that name the dashboard/panel/query in Grafana's logs.
      "X-Grafana-Org-Id", "X-Grafana-NoCache", "X-Grafana-Device-Id", "X-Grafana-From-Expr",
      "X-Grafana-To-Expr", "X-Dashboard-Uid", "X-Dashboard-Title", "X-Panel-Id", "X-Panel-Title",
      "X-Panel-Plugin-Id", "X-Datasource-Uid", "X-Query-Group-Id", "X-Plugin-Id", "X-Cache-Skip"};
  return std::any_of(std::begin(kAllowed), std::end(kAllowed), [&](std::string_view a) { return iequals(a, name); });
}

namespace {

// The part both the HTTP and the WebSocket requests share; `extra` is one more allowed header.
HeaderList forwarded_headers(const HeaderList& incoming, const std::string& remote_address,
                             const GrafanaIdentity& identity, std::string_view extra) {
  std::string connection, forwarded_for, host, proto = "http";
  for (const auto& [k, v] : incoming) {
    if (iequals(k, "Connection")) connection = v;
    if (iequals(k, "X-Forwarded-For")) forwarded_for = v;
    if (iequals(k, "Host")) host = v;
    // Behind nginx's TLS the original scheme and host arrive in these; keep them.
    if (iequals(k, "X-Forwarded-Proto") && !v.empty()) proto = v;
  }
  for (const auto& [k, v] : incoming)
    if (iequals(k, "X-Forwarded-Host") && !v.empty()) host = v;
  HeaderList out;
  for (const auto& [k, v] : incoming) {
    if (!grafana_forwards_request_header(k) && !(!extra.empty() && iequals(k, extra))) continue;
    if (is_hop_by_hop(k, connection)) continue;  // "Connection: Accept" makes Accept hop-by-hop
    // Whatever the allowlist says, the identity headers are ours alone to set.
    if ((!identity.user_header.empty() && iequals(k, identity.user_header)) || iequals(k, kGrafanaRoleHeader))
      continue;
    if (iequals(k, "Cookie")) {
      auto rest = strip_cookie(v, "access_token");
      if (!rest.empty()) out.emplace_back("Cookie", rest);
      continue;
    }
    out.emplace_back(k, v);
  }
  out.emplace_back("X-Forwarded-For", forwarded_for.empty() ? remote_address : forwarded_for + ", " + remote_address);
  if (!host.empty()) out.emplace_back("X-Forwarded-Host", host);
  out.emplace_back("X-Forwarded-Proto", proto);
  // A login that could not be a header value (control characters: a row from before names were
  // checked) asserts nobody rather than something a parser might split.
  const bool plain_login = std::all_of(identity.login.begin(), identity.login.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
  if (!identity.user_header.empty() && !identity.login.empty() && plain_login) {
    out.emplace_back(identity.user_header, identity.login);
    if (!identity.role.empty()) out.emplace_back(std::string(kGrafanaRoleHeader), identity.role);
  }
  return out;
}

}  // namespace

HeaderList grafana_request_headers(const HeaderList& incoming, const std::string& remote_address,
                                   const GrafanaIdentity& identity) {
  return forwarded_headers(incoming, remote_address, identity, {});
}

HeaderList grafana_response_headers(const HeaderList& upstream) {
  std::string connection;
  for (const auto& [k, v] : upstream)
    if (iequals(k, "Connection")) connection = v;
  HeaderList out;
  for (const auto& [k, v] : upstream) {
    if (is_hop_by_hop(k, connection) || iequals(k, "Content-Length") || iequals(k, "Content-Type") ||
        iequals(k, "Server") || iequals(k, "Date") || iequals(k, "X-Content-Type-Options") ||
        iequals(k, "Referrer-Policy"))
      continue;
    out.emplace_back(k, v);
  }
  return out;
}

std::optional<std::uint64_t> relayed_content_length(const HeaderList& upstream) {
  std::optional<std::uint64_t> length;
  for (const auto& [k, v] : upstream) {
    if (iequals(k, "Transfer-Encoding")) return std::nullopt;
    if (!iequals(k, "Content-Length")) continue;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    // Two different lengths, or one that is not a number: let chunking frame the body.
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || (length && *length != n)) return std::nullopt;
    length = n;
  }
  return length;
}

std::optional<GrafanaWsTarget> grafana_ws_target(const std::string& grafana_url, const std::string& target) {
  constexpr std::string_view scheme = "http://";
  if (grafana_url.size() <= scheme.size() || !iequals(std::string_view(grafana_url).substr(0, scheme.size()), scheme))
    return std::nullopt;
  const auto rest = std::string_view(grafana_url).substr(scheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view{} : rest.substr(slash));
  if (authority.empty() || authority.find_first_of("@?# ") != std::string_view::npos) return std::nullopt;
  GrafanaWsTarget t;
  std::string_view host = authority, port = "80";
  if (authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  unsigned n = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
    return std::nullopt;
  t.host = std::string(host);
  t.port = std::string(port);
  t.host_header = std::string(authority);
  while (!path.empty() && path.back() == '/') path.pop_back();
  t.target = path + (target.empty() || target[0] != '/' ? "/" : "") + target;
  return t;
}

HeaderList grafana_ws_request_headers(const HeaderList& incoming, const std::string& remote_address,
                                      const GrafanaIdentity& identity) {
  return forwarded_headers(incoming, remote_address, identity, "Sec-WebSocket-Protocol");
}

std::string grafana_upstream_url(const std::string& grafana_url, const std::string& target) {
  std::string base = grafana_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + (target.empty() || target[0] != '/' ? "/" : "") + target;
}

}  // namespace vmshare::obs
