#include <gtest/gtest.h>

#include "obs/grafana_proxy.h"
#include "obs/metrics_access.h"
#include "obs/prometheus_query.h"

using namespace vmshare::obs;

TEST(MetricsAccess, LoopbackTokenOrAdmin) {
  const std::string good = "Bearer s3cret", bad = "Bearer nope", lower = "bearer s3cret", basic = "Basic s3cret";
  EXPECT_EQ(metrics_access(true, nullptr, ""), MetricsAccess::allow);
  EXPECT_EQ(metrics_access(false, nullptr, "s3cret"), MetricsAccess::needs_admin);
  EXPECT_EQ(metrics_access(false, &good, "s3cret"), MetricsAccess::allow);
  EXPECT_EQ(metrics_access(false, &lower, "s3cret"), MetricsAccess::allow);
  EXPECT_EQ(metrics_access(false, &bad, "s3cret"), MetricsAccess::needs_admin);
  EXPECT_EQ(metrics_access(false, &basic, "s3cret"), MetricsAccess::needs_admin);
  const std::string empty = "Bearer ";
  EXPECT_EQ(metrics_access(false, &empty, ""), MetricsAccess::needs_admin);  // no token configured
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(PrometheusQuery, InstantAndRange) {
  EXPECT_EQ(prometheus_query_url("http://p:9090/", {{"query", "up{job=\"x\"}"}}),
            "http://p:9090/api/v1/query?query=up%7Bjob%3D%22x%22%7D");
  EXPECT_EQ(prometheus_query_url("http://p:9090", {{"query", "up"}, {"time", "5"}}),
            "http://p:9090/api/v1/query?query=up&time=5");
  EXPECT_EQ(prometheus_query_url("http://p:9090", {{"query", "rate(x[1m])"}, {"start", "1"}, {"end", "2"}, {"step", "15s"}}),
            "http://p:9090/api/v1/query_range?query=rate%28x%5B1m%5D%29&start=1&end=2&step=15s");
  EXPECT_THROW(prometheus_query_url("http://p", {}), BadQuery);
  EXPECT_THROW(prometheus_query_url("http://p", {{"query", "  "}}), BadQuery);
  EXPECT_THROW(prometheus_query_url("http://p", {{"query", "up"}, {"start", "1"}}), BadQuery);
}

TEST(GrafanaProxy, PanelIframeSrc) {
  EXPECT_EQ(panel_iframe_src("/grafana", {}),
            "/grafana/d-solo/vmshare/vmshare?orgId=1&panelId=1&from=now-1h&to=now&refresh=10s&theme=dark&kiosk");
  EXPECT_EQ(panel_iframe_src("https://g.example/", {{"uid", "ab_C-1"}, {"panelId", "12"}, {"from", "now-6h"},
                                                    {"theme", "light"}, {"kiosk", "0"}}),
            "https://g.example/d-solo/ab_C-1/vmshare?orgId=1&panelId=12&from=now-6h&to=now&refresh=10s&theme=light");
  EXPECT_THROW(panel_iframe_src("/grafana", {{"uid", "../admin"}}), BadPanelRequest);
  EXPECT_THROW(panel_iframe_src("/grafana", {{"uid", "a\"><script>"}}), BadPanelRequest);
  EXPECT_THROW(panel_iframe_src("/grafana", {{"panelId", "1;drop"}}), BadPanelRequest);
  EXPECT_THROW(panel_iframe_src("/grafana", {{"from", "now&x=1"}}), BadPanelRequest);
  EXPECT_THROW(panel_iframe_src("/grafana", {{"theme", "pink"}}), BadPanelRequest);
  EXPECT_THROW(panel_iframe_src("/grafana", {{"orgId", "x"}}), BadPanelRequest);
}

TEST(GrafanaProxy, RequestHeadersDropOurCredentials) {
  HeaderList in{{"Host", "vm.example"},
                {"Cookie", "access_token=jwt.jwt.jwt; grafana_session=abc; other=1"},
                {"Authorization", "Bearer jwt"},
                {"Connection", "keep-alive, X-Secret-Hop"},
                {"X-Secret-Hop", "1"},
                {"Keep-Alive", "timeout=5"},
                {"Content-Length", "3"},
                {"Accept", "application/json"},
                // Identity headers an auth proxy might trust, and anything else not allowlisted.
                {"X-WEBAUTH-USER", "admin"},
                {"x-webauth-role", "Admin"},
                {"X-Forwarded-User", "admin"},
                {"Remote-User", "admin"},
                {"X-Grafana-Id", "forged"},
                {"X-Custom", "dropped"},
                {"X-Grafana-Org-Id", "2"}};
  auto out = grafana_request_headers(in, "127.0.0.1");
  HeaderList expected{{"Cookie", "grafana_session=abc; other=1"},
                      {"Accept", "application/json"},
                      {"X-Grafana-Org-Id", "2"},
                      {"X-Forwarded-For", "127.0.0.1"},
                      {"X-Forwarded-Host", "vm.example"},
                      {"X-Forwarded-Proto", "http"}};
  EXPECT_EQ(out, expected);
  auto behind_nginx = grafana_request_headers({{"Host", "127.0.0.1:8000"}, {"X-Forwarded-For", "203.0.113.9"},
                                              {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "vm.example"}},
                                             "127.0.0.1");
  HeaderList nginx_expected{{"X-Forwarded-For", "203.0.113.9, 127.0.0.1"},
                            {"X-Forwarded-Host", "vm.example"},
                            {"X-Forwarded-Proto", "https"}};
  EXPECT_EQ(behind_nginx, nginx_expected);
  auto only_ours = grafana_request_headers({{"Cookie", "access_token=x"}}, "::1");
  for (const auto& [k, _] : only_ours) EXPECT_NE(k, "Cookie");
  EXPECT_EQ(strip_cookie("a=1;access_token=2 ; b=3", "access_token"), "a=1; b=3");
}

TEST(GrafanaProxy, AllowlistAndHopByHop) {
  for (const char* ok : {"accept", "Content-Type", "If-None-Match", "Range", "Origin", "X-Grafana-Org-Id", "User-Agent"})
    EXPECT_TRUE(grafana_forwards_request_header(ok)) << ok;
  for (const char* no : {"X-WEBAUTH-USER", "X-WEBAUTH-ROLE", "Authorization", "Proxy-Authorization", "X-Forwarded-User",
                         "X-Remote-User", "Remote-User", "X-Grafana-Id", "Host", "Content-Length", "Connection", "Upgrade",
                         "Transfer-Encoding", "X-Forwarded-For", "Expect", ""})
    EXPECT_FALSE(grafana_forwards_request_header(no)) << no;
  // An allowlisted header the Connection header names is hop-by-hop: not forwarded.
  auto out = grafana_request_headers({{"Connection", "Accept-Language"}, {"Accept-Language", "fr"}, {"Accept", "*/*"}}, "::1");
  HeaderList expected{{"Accept", "*/*"}, {"X-Forwarded-For", "::1"}, {"X-Forwarded-Proto", "http"}};
  EXPECT_EQ(out, expected);
}

TEST(GrafanaProxy, AuthProxyIdentityIsOursAlone) {
  GrafanaIdentity who{"X-WEBAUTH-USER", "alice", "Viewer"};
  auto out = grafana_request_headers({{"X-WEBAUTH-USER", "admin"}, {"X-WEBAUTH-ROLE", "Admin"}, {"Accept", "*/*"}},
                                     "127.0.0.1", who);
  HeaderList expected{{"Accept", "*/*"},
                      {"X-Forwarded-For", "127.0.0.1"},
                      {"X-Forwarded-Proto", "http"},
                      {"X-WEBAUTH-USER", "alice"},
                      {"X-WEBAUTH-ROLE", "Viewer"}};
  EXPECT_EQ(out, expected);
  // An operator's header name that collides with an allowlisted one is still ours alone.
  auto odd = grafana_request_headers({{"User-Agent", "forged"}}, "::1", {"User-Agent", "bob", ""});
  HeaderList odd_expected{{"X-Forwarded-For", "::1"}, {"X-Forwarded-Proto", "http"}, {"User-Agent", "bob"}};
  EXPECT_EQ(odd, odd_expected);
  // A login that is no plain header value asserts nobody.
  for (const char* bad : {"a\r\nX-WEBAUTH-ROLE: Admin", "a b", "\x01"}) {
    auto none = grafana_request_headers({}, "::1", {"X-WEBAUTH-USER", bad, "Viewer"});
    HeaderList none_expected{{"X-Forwarded-For", "::1"}, {"X-Forwarded-Proto", "http"}};
    EXPECT_EQ(none, none_expected) << bad;
  }
  // WebSocket upgrades carry the same identity.
  auto ws = grafana_ws_request_headers({{"X-WEBAUTH-USER", "admin"}, {"Sec-WebSocket-Protocol", "p"}}, "::1", who);
  HeaderList ws_expected{{"Sec-WebSocket-Protocol", "p"},
                         {"X-Forwarded-For", "::1"},
                         {"X-Forwarded-Proto", "http"},
                         {"X-WEBAUTH-USER", "alice"},
                         {"X-WEBAUTH-ROLE", "Viewer"}};
  EXPECT_EQ(ws, ws_expected);
}

TEST(GrafanaProxy, ResponseHeadersAndUrl) {
  HeaderList up{{"Content-Type", "text/html"}, {"Content-Length", "10"}, {"Transfer-Encoding", "chunked"},
                {"Set-Cookie", "grafana_session=1"}, {"Set-Cookie", "b=2"}, {"Cache-Control", "no-store"},
                {"Connection", "close"}, {"Server", "Grafana"}};
  HeaderList expected{{"Set-Cookie", "grafana_session=1"}, {"Set-Cookie", "b=2"}, {"Cache-Control", "no-store"}};
  EXPECT_EQ(grafana_response_headers(up), expected);
  EXPECT_EQ(grafana_upstream_url("http://127.0.0.1:3000/", "/grafana/api/health?x=1"),
            "http://127.0.0.1:3000/grafana/api/health?x=1");
}

TEST(GrafanaProxy, RelayedContentLength) {
  EXPECT_EQ(relayed_content_length({{"Content-Type", "x"}, {"content-length", "1234"}}), 1234u);
  EXPECT_EQ(relayed_content_length({{"Content-Length", "0"}}), 0u);
  EXPECT_EQ(relayed_content_length({{"Content-Length", "5"}, {"Content-Length", "5"}}), 5u);
  EXPECT_FALSE(relayed_content_length({}));  // unknown: chunked
  EXPECT_FALSE(relayed_content_length({{"Content-Length", "12"}, {"Transfer-Encoding", "chunked"}}));
  EXPECT_FALSE(relayed_content_length({{"Content-Length", "5"}, {"Content-Length", "6"}}));
  for (const char* bad : {"", "-1", "12a", " 12", "1e3", "99999999999999999999999"})
    EXPECT_FALSE(relayed_content_length({{"Content-Length", bad}})) << bad;
}

TEST(GrafanaProxy, LiveWebSocketTarget) {
  auto t = grafana_ws_target("http://127.0.0.1:3000", "/grafana/api/live/ws?x=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "3000");
  EXPECT_EQ(t->host_header, "127.0.0.1:3000");
  EXPECT_EQ(t->target, "/grafana/api/live/ws?x=1");
  t = grafana_ws_target("HTTP://grafana.internal/base/", "/grafana/api/live/ws");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "grafana.internal");
  EXPECT_EQ(t->port, "80");
  EXPECT_EQ(t->target, "/base/grafana/api/live/ws");
  t = grafana_ws_target("http://[::1]:3000", "/grafana/api/live/ws");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->host_header, "[::1]:3000");
  for (const char* bad : {"https://g:3000", "http://", "http://user:pw@g:3000", "http://g:0", "http://g:70000", "http://g:x",
                          "http://[::1", "http://[::1]x", "ftp://g", "http://:3000"})
    EXPECT_FALSE(grafana_ws_target(bad, "/grafana/api/live/ws")) << bad;
}

TEST(GrafanaProxy, LiveUpgradeHeaders) {
  auto out = grafana_ws_request_headers({{"Host", "vm.example"},
                                         {"Connection", "Upgrade"},
                                         {"Upgrade", "websocket"},
                                         {"Sec-WebSocket-Key", "abc"},
                                         {"Sec-WebSocket-Version", "13"},
                                         {"Sec-WebSocket-Extensions", "permessage-deflate"},
                                         {"Sec-WebSocket-Protocol", "centrifuge-protobuf"},
                                         {"Origin", "https://vm.example"},
                                         {"Authorization", "Bearer jwt"},
                                         {"Cookie", "access_token=jwt; grafana_session=g"}},
                                        "127.0.0.1");
  HeaderList expected{{"Sec-WebSocket-Protocol", "centrifuge-protobuf"},
                      {"Origin", "https://vm.example"},
                      {"Cookie", "grafana_session=g"},
                      {"X-Forwarded-For", "127.0.0.1"},
                      {"X-Forwarded-Host", "vm.example"},
                      {"X-Forwarded-Proto", "http"}};
  EXPECT_EQ(out, expected);
}
