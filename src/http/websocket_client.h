#pragma once
// Opens an outgoing WebSocket (the upstream of a WebSocket proxy) asynchronously on a given
// executor, so that it can share a strand with the incoming connection it will be relayed to.
// Resolve, TCP connect and handshake together must finish within `timeout`.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/error.hpp>

#include "http/websocket_handoff.h"

namespace vmshare::http {

struct WebSocketTarget {
  std::string host;  // name or address, for the resolver
  std::string port;
  std::string host_header;  // "host:port"
  std::string target;       // "/path?query"
};

struct WebSocketClientOptions {
  // Added to the upgrade request (Beast sets Host, Upgrade, Connection and the Sec-WebSocket-
  // Key/Version itself). A Sec-WebSocket-Protocol here offers those subprotocols.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::seconds timeout{10};
};

struct WebSocketHandshake {
  int status = 0;           // the server's answer: 101, or why it declined (0: no answer)
  std::string subprotocol;  // the one the server picked, if any
};

// done(ec, stream, handshake) runs on `executor`; stream is null when ec is set. The stream then
// pings after 30 s of silence and fails after 60 s without an answer, like the server's own.
using WebSocketConnected =
    std::function<void(boost::beast::error_code, std::shared_ptr<WebSocketStream>, WebSocketHandshake)>;
void async_connect_websocket(boost::asio::any_io_executor executor, WebSocketTarget target,
                             WebSocketClientOptions options, WebSocketConnected done);

}  // namespace vmshare::http
