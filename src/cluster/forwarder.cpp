#include "cluster/forwarder.h"

#include <ctime>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "cluster/errors.h"
#include "cluster/request_signing.h"
#include "http/response_stream.h"
#include "http/websocket_client.h"
#include "http/websocket_relay.h"

namespace vmshare::cluster {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {
constexpr std::size_t kChunk = 64 * 1024;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_ours(const std::string& lower_name) { return lower_name.rfind(kHeaderPrefix, 0) == 0; }

http::Response unreachable(const std::string& why) {
  spdlog::warn("cluster: forwarding failed: {}", why);
  throw PeerUnavailable("The node running your VM is not answering; please try again shortly");
}

void throw_if(const beast::error_code& ec) {
  if (ec) throw beast::system_error(ec);
}

// As much of the client's body as `chunk` holds (less at its end): reads may bring a few hundred
// bytes each, and every write to the peer costs a few system calls.
std::size_t fill(http::Request& request, std::vector<char>& chunk) {
  std::size_t got = 0;
  while (got < chunk.size()) {
    const std::size_t n = request.read_body(chunk.data() + got, chunk.size() - got);
    if (n == 0) break;
    got += n;
  }
  return got;
}

// The client's body to the peer, one chunk at a time. Returns false when the peer stopped
// taking it (it answered early, broke, or took nothing for the progress timeout); the client's
// own errors are thrown.
bool send_body(PeerChannel& peer, bhttp::request<bhttp::buffer_body>& out, http::Request& request) {
  bhttp::request_serializer<bhttp::buffer_body> serializer{out};
  const auto limit = peer.timeouts().progress;
  if (peer.run(limit, [&](auto h) { bhttp::async_write_header(peer.stream(), serializer, std::move(h)); })) return false;
  std::vector<char> chunk(kChunk);
  for (;;) {
    if (peer.has_spoken()) return false;
    const std::size_t n = fill(request, chunk);
    out.body().data = n ? chunk.data() : nullptr;
    out.body().size = n;
    out.body().more = n > 0;
    auto ec = peer.run(limit, [&](auto h) { bhttp::async_write(peer.stream(), serializer, std::move(h)); });
    if (ec && ec != bhttp::error::need_buffer) return false;
    if (n == 0) return true;
  }
}

// The owner's answer, streamed to the client while it is read.
http::Response relay_response(PeerChannel& peer, const http::Request& request) {
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  // Boost 1.74 compares a length with an empty optional as "over the limit": no boost::none here.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  throw_if(peer.run(peer.timeouts().answer,
                    [&](auto h) { bhttp::async_read_header(peer.stream(), buffer, parser, std::move(h)); }));
  const auto& head = parser.get();
  http::Response r;
  r.status = static_cast<int>(head.result_int());
  r.content_type = std::string(head[bhttp::field::content_type]);
  for (const auto& field : head)
    if (passes_back(std::string(field.name_string()))) r.header(std::string(field.name_string()), std::string(field.value()));
  std::string body;
  std::vector<char> chunk(kChunk);
  auto* out = request.response_stream;
  const bool streaming = out && !parser.is_done();
  if (streaming) out->begin(r, parser.content_length() ? std::optional<std::uint64_t>(*parser.content_length()) : std::nullopt);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    const auto ec = peer.run(peer.timeouts().progress,
                             [&](auto h) { bhttp::async_read(peer.stream(), buffer, parser, std::move(h)); });
    if (ec != bhttp::error::need_buffer) throw_if(ec);
    const std::size_t n = chunk.size() - parser.get().body().size;
    if (streaming) {
      if (n && !out->write(std::string_view(chunk.data(), n))) throw std::runtime_error("client stopped reading");
    } else {
      body.append(chunk.data(), n);
    }
  }
  if (streaming) {
    out->end();
    return r;
  }
  r.body = std::move(body);
  return r;
}
}  // namespace

PeerAddress parse_internal_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("not an http:// URL");
  auto rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  if (rest.empty()) throw std::invalid_argument("no host");
  PeerAddress p;
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || rest.back() == ']') {
    p.host = rest;
    p.port = "80";
  } else {
    p.host = rest.substr(0, colon);
    p.port = rest.substr(colon + 1);
  }
  if (p.host.size() > 2 && p.host.front() == '[' && p.host.back() == ']') p.host = p.host.substr(1, p.host.size() - 2);
  if (p.host.empty() || p.port.empty()) throw std::invalid_argument("no host or port");
  return p;
}

HeaderList forwarded_request_headers(const http::HeaderMap& headers) {
  static const std::set<std::string> hop{"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                                         "content-length", "expect", "proxy-authorization", "proxy-connection", "trailer",
                                         "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"};
  HeaderList out;
  for (const auto& [name, value] : headers) {
    const auto l = lower(name);
    if (!hop.count(l) && !is_ours(l)) out.emplace_back(name, value);
  }
  return out;
}

bool passes_back(const std::string& name) {
  static const std::set<std::string> dropped{"connection", "keep-alive", "transfer-encoding", "content-length",
                                             "content-type", "server", "date", "x-content-type-options",
                                             "referrer-policy"};
  const auto l = lower(name);
  return !dropped.count(l) && !is_ours(l);
}

BodyFraming streamed_body_framing(const std::optional<std::uint64_t>& client_content_length) {
  if (client_content_length) return {false, *client_content_length};
  return {true, 0};
}

HeaderList Forwarder::signed_headers(const std::string& method, const std::string& target) const {
  SignedFields f{method, target, static_cast<std::int64_t>(std::time(nullptr)), new_nonce(), self_};
  return {{kHeaderNode, f.sender},
          {kHeaderTime, std::to_string(f.timestamp)},
          {kHeaderNonce, f.nonce},
          {kHeaderSignature, sign_request(key_, f)}};
}

http::Response Forwarder::forward(const PeerAddress& peer, const http::Request& request, const HeaderList& extra) const {
  try {
    PeerChannel channel(peer, timeouts_);
    bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(request.method), request.target, 11};
    for (const auto& [name, value] : forwarded_request_headers(request.headers)) out.set(name, value);
    for (const auto& [name, value] : signed_headers(request.method, request.target)) out.set(name, value);
    for (const auto& [name, value] : extra) out.set(name, value);
    out.set(bhttp::field::connection, "close");
    out.body() = request.body;
    out.prepare_payload();
    throw_if(channel.run(timeouts_.progress, [&](auto h) { bhttp::async_write(channel.stream(), out, std::move(h)); }));
    return relay_response(channel, request);
  } catch (const PeerUnavailable&) {
    throw;
  } catch (const std::exception& e) {
    if (request.response_stream && request.response_stream->begun()) throw;  // cut short: the client sees it
    return unreachable(e.what());
  }
}

// The signature covers method, target, time, nonce and sender, never the body (a buffered
// forward's neither): a body hash would need the whole body before its first byte could leave.
// The body's integrity rests, as for every forward, on the channel being private to the nodes
// (docs/operations.md: firewalled); a captured request still cannot be replayed (nonce, window),
// and the owner applies its own size limit to whatever arrives.
http::Response Forwarder::forward_streaming(const PeerAddress& peer, http::Request& request) const {
  std::optional<PeerChannel> channel;
  try {
    channel.emplace(peer, timeouts_);
  } catch (const std::exception& e) {
    return unreachable(e.what());
  }
  bhttp::request<bhttp::buffer_body> out{bhttp::string_to_verb(request.method), request.target, 11};
  for (const auto& [name, value] : forwarded_request_headers(request.headers)) out.set(name, value);
  for (const auto& [name, value] : signed_headers(request.method, request.target)) out.set(name, value);
  out.set(bhttp::field::connection, "close");
  const auto framing = streamed_body_framing(request.content_length);
  if (framing.chunked)
    out.chunked(true);
  else
    out.content_length(framing.content_length);
  out.body().data = nullptr;
  out.body().more = true;
  // A client error thrown here leaves with the stream closed: the peer sees a cut body.
  const bool sent = send_body(*channel, out, request);
  try {
    return relay_response(*channel, request);
  } catch (const std::exception& e) {
    return unreachable(std::string(sent ? "" : "the peer stopped taking the body; ") + e.what());
  }
}

http::WebSocketDecision Forwarder::forward_websocket(const PeerAddress& peer, const http::Request& request) const {
  http::WebSocketTarget target{peer.host, peer.port, peer.host + ":" + peer.port, request.target};
  http::WebSocketClientOptions options;
  for (const auto& [name, value] : forwarded_request_headers(request.headers))
    if (lower(name) != "host") options.headers.emplace_back(name, value);
  // The owner checks Origin against Host: it sees the Host the browser used.
  if (const auto* host = request.header("Host")) options.headers.emplace_back("X-Vmshare-Forwarded-Host", *host);
  for (auto& h : signed_headers("GET", request.target)) options.headers.push_back(std::move(h));
  options.timeout = std::chrono::duration_cast<std::chrono::seconds>(timeouts_.connect);
  auto upstream = std::make_shared<std::shared_ptr<http::WebSocketStream>>();
  http::WebSocketDecision decision;
  decision.before_accept = [target, options, upstream](net::any_io_executor strand, http::WebSocketDecision::Ready ready) {
    http::async_connect_websocket(strand, target, options,
                                  [upstream, ready](beast::error_code ec, std::shared_ptr<http::WebSocketStream> ws,
                                                    http::WebSocketHandshake handshake) {
                                    if (!ec) {
                                      *upstream = std::move(ws);
                                      return ready(std::nullopt, std::move(handshake.subprotocol));
                                    }
                                    if (handshake.status >= 400 && handshake.status < 500)
                                      return ready(http::error_response(handshake.status, "The console was refused"), {});
                                    spdlog::warn("cluster: cannot open a peer's console: {}", ec.message());
                                    ready(http::error_response(503, "The node running your VM is not answering"), {});
                                  });
  };
  decision.on_open = [upstream](http::WebSocketStream&& browser) {
    if (!*upstream) return;
    http::WebSocketRelay::start(std::move(browser), std::move(**upstream), {"the VM's node", {}});
    upstream->reset();
  };
  return decision;
}

}  // namespace vmshare::cluster
