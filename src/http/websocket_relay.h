#pragma once
// Relays one WebSocket to another (a browser and the server behind a proxy), message framing
// kept: text stays text, binary stays binary, and a message arrives in one piece whatever its
// size, because it is passed on frame piece by frame piece (read_some / write_some with the
// "fin" of the source) rather than collected.
//
// Shape as ConsoleBridge: both streams on one strand, two pumps (A->B, B->A), each with one
// fixed buffer, reading again only once the last piece has been written, so each direction
// holds at most kBufferBytes and a slow reader slows the other side down.
//
// Close: a close frame from one side is answered there (Beast does) and passed to the other
// with the same code and reason; a side that fails closes the other with 1001 (the browser left)
// or 1014 (the upstream failed). A side that does not answer our close frame within kCloseGrace
// is cut. on_closed fires exactly once, after the relay's last operation.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "http/websocket_handoff.h"

namespace vmshare::http {

class WebSocketRelay : public std::enable_shared_from_this<WebSocketRelay> {
 public:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  static constexpr std::chrono::seconds kCloseGrace{5};

  struct Options {
    std::string upstream_name = "upstream";  // in the close reason when it fails ("Grafana")
    std::function<void()> on_closed;          // may be empty
  };

  // `browser` and `upstream` must run on the same strand (`browser`'s executor).
  static std::shared_ptr<WebSocketRelay> start(WebSocketStream&& browser, WebSocketStream&& upstream, Options options);

  // Thread-safe: closes both sides with 1001 and `reason` (server shutdown).
  void close(const std::string& reason);

  WebSocketRelay(WebSocketStream&& browser, WebSocketStream&& upstream, Options options);
  ~WebSocketRelay();
  WebSocketRelay(const WebSocketRelay&) = delete;
  WebSocketRelay& operator=(const WebSocketRelay&) = delete;

 private:
  using error_code = boost::system::error_code;
  struct Side {
    explicit Side(WebSocketStream&& s) : ws(std::move(s)), buffer(new char[kBufferBytes]) {}
    WebSocketStream ws;
    std::unique_ptr<char[]> buffer;  // what was read from this side, on its way to the other
    bool writing_message = false;    // a message to this side is partly written
  };

  void read(int from);
  void on_read(int from, error_code ec, std::size_t n);
  void on_written(int from, error_code ec);
  // Starts teardown once: `from` ended (its peer closed, or it failed); the other side is sent
  // `reason`.
  void shut_down(int from, const boost::beast::websocket::close_reason& reason);
  // The close frame to one side, cut after kCloseGrace.
  void close_gracefully(int side, const boost::beast::websocket::close_reason& reason);
  boost::beast::websocket::close_reason failure_reason(int side) const;
  void op_done() { --ops_; }
  void finish_if_idle();

  static constexpr int kBrowser = 0;
  static constexpr int kUpstream = 1;
  Side sides_[2];
  boost::asio::steady_timer close_timer_;
  Options options_;
  int ops_ = 0;            // async operations in flight (strand only)
  int closes_pending_ = 0;  // close handshakes the grace timer is waiting for
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace vmshare::http
