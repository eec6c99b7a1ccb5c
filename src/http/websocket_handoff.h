#pragma once
// What a WebSocket route decides before the upgrade: refuse with a response, or accept and hand
// the socket to a session object (the console bridge, the Grafana Live relay).
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "http/response.h"

namespace vmshare::http {

using WebSocketStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

struct WebSocketDecision {
  std::optional<Response> refuse;
  std::string subprotocol;  // echoed in Sec-WebSocket-Protocol when non-empty
  // Optional, asynchronous: runs on the connection's strand (its executor is passed) before the
  // handshake is answered, e.g. to open the upstream of a proxy first, so that failure can still
  // be an HTTP status. It must call `ready` exactly once, from any thread, with a refusal or
  // nothing, and the subprotocol to answer with (empty: keep `subprotocol`).
  using Ready = std::function<void(std::optional<Response> refuse, std::string subprotocol)>;
  std::function<void(boost::asio::any_io_executor strand, Ready ready)> before_accept;
  // Called on the connection's strand after a successful handshake; owns the stream from then.
  std::function<void(WebSocketStream&&)> on_open;
};

}  // namespace vmshare::http
