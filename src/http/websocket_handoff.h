#pragma once
// What a WebSocket route decides before the upgrade: refuse with a response, or accept and hand
// the socket to a session object (the console bridge, the Grafana Live proxy).
#include <functional>
#include <optional>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "http/response.h"

namespace vmshare::http {

using WebSocketStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

struct WebSocketDecision {
  std::optional<Response> refuse;
  std::string subprotocol;  // echoed in Sec-WebSocket-Protocol when non-empty
  // Called on the connection's strand after a successful handshake; owns the stream from then.
  std::function<void(WebSocketStream&&)> on_open;
};

}  // namespace vmshare::http
