#pragma once
// The internal channel, client side: a request (or a console WebSocket) about a VM that runs on
// another node is replayed to that node's internal listener, signed (request_signing.h), with
// the caller's own credentials so the owner authorises it as it would its own. Responses are
// streamed back as they arrive (snapshot downloads of any size keep the client's backpressure);
// consoles are relayed frame by frame by http::WebSocketRelay.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/peer_channel.h"
#include "http/request.h"
#include "http/response.h"
#include "http/websocket_handoff.h"

namespace vmshare::cluster {

// "http://host:port[/]" -> host, port (80 when absent); throws std::invalid_argument otherwise.
PeerAddress parse_internal_url(const std::string& url);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Which of the caller's headers travel to the owner: all but hop-by-hop ones and our own scheme's.
HeaderList forwarded_request_headers(const http::HeaderMap& headers);
// How a streamed body travels to the owner: with the client's Content-Length when it gave one
// (the owner then checks the size before reading), chunked otherwise.
struct BodyFraming {
  bool chunked = false;
  std::uint64_t content_length = 0;  // when !chunked
};
BodyFraming streamed_body_framing(const std::optional<std::uint64_t>& client_content_length);
// Which of the owner's response headers come back (ours are added by this node's server again).
bool passes_back(const std::string& response_header);

class Forwarder {
 public:
  Forwarder(std::string self, std::string key, ForwardTimeouts timeouts = {})
      : self_(std::move(self)), key_(std::move(key)), timeouts_(timeouts) {}

  // The signing headers for one request to a peer.
  HeaderList signed_headers(const std::string& method, const std::string& target) const;

  // Replays `request` (buffered body) to `peer` and returns its answer; streamed through
  // request.response_stream when the route has one. Blocking (workers). `extra` headers are
  // added (e.g. the placement mark). A peer that cannot be reached, or goes quiet for longer
  // than its timeouts (peer_channel.h): PeerUnavailable (503).
  http::Response forward(const PeerAddress& peer, const http::Request& request, const HeaderList& extra = {}) const;

  // The same for a streaming route (a drop): the body is pulled from the client in chunks
  // (request.read_body) and written to the peer as it arrives, never held whole; blocking writes
  // make a slow peer slow the client down. The client's own errors (BodyTooLarge,
  // BodyReadError) are thrown as they are, and the peer then sees a cut body and keeps nothing.
  // A peer that answers before the body's end (a refusal) is heard at once: the rest is not sent.
  http::Response forward_streaming(const PeerAddress& peer, http::Request& request) const;

  // A console opened on this node for a VM of another: the peer's /ws/<vmid> is dialled first
  // (so its refusal is still an HTTP status here), then the two are relayed.
  http::WebSocketDecision forward_websocket(const PeerAddress& peer, const http::Request& request) const;

 private:
  std::string self_;
  std::string key_;
  ForwardTimeouts timeouts_;
};

}  // namespace vmshare::cluster
