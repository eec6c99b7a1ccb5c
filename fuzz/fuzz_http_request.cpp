// Raw bytes -> what HttpSession does with a request before any handler runs: Beast's parser with
// the server's header limit (header first, then the body parser moved from it with the body
// limit), our target decoding, the router with the real route patterns, the static-file path
// check and file lookup, and the Range header. Invariants that must hold are checked with traps.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/ip_network.h"
#include "http/byte_range.h"
#include "http/client_address.h"
#include "http/router.h"
#include "http/server.h"
#include "http/static_files.h"
#include "http/url.h"

namespace bhttp = boost::beast::http;
using namespace vmshare::http;

namespace {

#define CHECK(cond) \
  do {              \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// The patterns src/api registers (the handlers never run here).
Router& router() {
  static Router r = [] {
    Router r;
    auto h = [](Request&) { return Response{}; };
    for (const char* p : {"/", "/signup", "/profile", "/console/<vmid>", "/config.json", "/me", "/user_info",
                          "/images", "/vm/status", "/vm/screenshot", "/sessions/active", "/get_user_snapshots",
                          "/snapshots/<name>/download", "/metrics", "/metrics_json", "/grafana/panel_iframe_src",
                          "/grafana/panel.png"})
      r.get(p, h);
    for (const char* p : {"/register", "/login", "/token", "/logout", "/run-script", "/run-iso", "/vm/stop",
                          "/vm/reset", "/snapshot", "/run_snapshot", "/remove_snapshot", "/feedback"})
      r.post(p, h);
    r.add(Route{"POST", "/api/post", h, BodyMode::streaming, 64 << 20, {}});
    r.add(Route{"GET", "/ws/<vmid>", h, BodyMode::buffered, 0, {}});
    r.add(Route{"*", "/grafana/<*>", h, BodyMode::buffered, 0, {}});
    return r;
  }();
  return r;
}

// A web root with one file and a secret next to it, so an escape would be visible.
const StaticFiles& static_files() {
  static StaticFiles files = [] {
    char tmpl[] = "/tmp/vmshare-fuzz-web-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    ::mkdir((dir + "/web").c_str(), 0755);
    std::ofstream(dir + "/web/index.html") << "<p>hi</p>";
    std::ofstream(dir + "/secret") << "secret";
    return StaticFiles(dir + "/web");
  }();
  return files;
}

void check_relative(const std::string& url_path) {
  auto rel = safe_relative_path(url_path);
  if (!rel) return;
  CHECK(!rel->empty() && (*rel)[0] != '/');
  CHECK(rel->find('\\') == std::string::npos && rel->find('\0') == std::string::npos);
  CHECK(rel->find("//") == std::string::npos);
  // No segment may be "." or ".." (nor any hidden name).
  CHECK((*rel)[0] != '.' && rel->find("/.") == std::string::npos);
}

void after_header(const bhttp::request_parser<bhttp::empty_body>& parser) {
  const auto& header = parser.get();
  auto decoded = decode_target(header.target());
  if (!decoded) return;  // 400
  CHECK(!decoded->path.empty() && decoded->path[0] == '/');
  CHECK(decoded->path.find('\0') == std::string::npos);

  const std::string method(header.method_string());
  RouteMatch m = router().match(method, decoded->path);
  if (m.route) CHECK(!m.method_mismatch);
  for (const auto& p : m.params) check_relative("/" + p);
  check_relative(decoded->path);

  if ((method == "GET" || method == "HEAD") && !m.route && !m.method_mismatch) {
    Response r = static_files().serve(decoded->path);
    if (r.file) {
      const auto& root = static_files().root();
      CHECK(r.file->path.compare(0, root.size() + 1, root + "/") == 0);
    }
  }

  if (auto it = header.find(bhttp::field::range); it != header.end()) {
    const std::string range(it->value());
    for (std::uint64_t size : {0ull, 1ull, 1000ull, ~0ull}) {
      auto d = decide_range(&range, size);
      if (d.kind == RangeKind::partial) CHECK(d.range.first <= d.range.last && d.range.last < size);
    }
  }
  // Who the client is, from whatever forwarding headers came in: behind a trusted peer only an
  // address that parses may be local; an untrusted peer's headers change nothing.
  {
    static const auto trusted = vmshare::parse_network_list("127.0.0.1, 10.0.0.0/8, ::1");
    std::string forwarded_for, real_ip;
    for (auto [it, end] = header.equal_range("X-Forwarded-For"); it != end; ++it)
      forwarded_for += (forwarded_for.empty() ? "" : ", ") + std::string(it->value());
    if (auto it = header.find("X-Real-IP"); it != header.end()) real_ip = std::string(it->value());
    auto via = client_address("127.0.0.1", forwarded_for, real_ip, trusted);
    if (!via.address.empty()) CHECK(vmshare::parse_ip(via.address).has_value());
    if (via.loopback) CHECK(vmshare::parse_ip(via.address)->is_loopback());
    auto direct = client_address("198.51.100.7", forwarded_for, real_ip, trusted);
    CHECK(direct.address == "198.51.100.7" && !direct.loopback && !direct.via_proxy);
  }

  // The round trip the download links rely on.
  CHECK(percent_decode(percent_encode(decoded->path)) == decoded->path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ServerOptions options;
  boost::asio::const_buffer in(data, size);
  boost::beast::error_code ec;

  bhttp::request_parser<bhttp::empty_body> header_parser;
  header_parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  header_parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  header_parser.eager(false);
  while (in.size() > 0 && !header_parser.is_header_done()) {
    const auto n = header_parser.put(in, ec);
    in += n;
    if (ec || n == 0) break;
  }
  if (ec && ec != bhttp::error::need_more) return 0;
  if (!header_parser.is_header_done()) return 0;
  after_header(header_parser);

  // Non-streaming routes: a declared length over the limit is 413 before any body is read (the
  // session does so; the string body would otherwise reserve the declared size), then the body
  // parser takes over with the route's limit.
  if (header_parser.content_length() && *header_parser.content_length() > options.max_body_bytes) return 0;
  bhttp::request_parser<bhttp::string_body> body_parser(std::move(header_parser));
  body_parser.body_limit(options.max_body_bytes);
  body_parser.eager(true);
  while (!body_parser.is_done() && in.size() > 0) {
    const auto n = body_parser.put(in, ec);
    in += n;
    if (ec || n == 0) break;
  }
  if (!ec && !body_parser.is_done()) body_parser.put_eof(ec);
  if (body_parser.is_done()) {
    const auto& body = body_parser.get().body();
    CHECK(body.size() <= options.max_body_bytes);
  }
  return 0;
}
