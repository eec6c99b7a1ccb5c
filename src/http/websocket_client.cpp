#include "http/websocket_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>

namespace vmshare::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

class Connect : public std::enable_shared_from_this<Connect> {
 public:
  Connect(net::any_io_executor ex, WebSocketTarget target, WebSocketClientOptions options, WebSocketConnected done)
      : resolver_(ex),
        timer_(ex),
        ws_(std::make_shared<WebSocketStream>(ex)),
        target_(std::move(target)),
        options_(std::move(options)),
        done_(std::move(done)) {}

  void run() {
    // One deadline over all three steps; its expiry cancels whichever is running.
    timer_.expires_after(options_.timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::get_lowest_layer(*self->ws_).close();
    });
    resolver_.async_resolve(target_.host, target_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolved(ec, std::move(results));
                            });
  }

 private:
  void on_resolved(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return finish(ec);
    beast::get_lowest_layer(*ws_).async_connect(
        results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) { self->on_connected(ec); });
  }

  void on_connected(beast::error_code ec) {
    if (ec) return finish(ec);
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().set_option(tcp::no_delay(true), ignored);
    ws_->set_option(websocket::stream_base::decorator([headers = options_.headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.insert(name, value);
    }));
    ws_->async_handshake(response_, target_.host_header, target_.target,
                         [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

  void on_handshake(beast::error_code ec) {
    handshake_.status = static_cast<int>(response_.result_int());
    if (ec) return finish(ec);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(30);
    timeouts.idle_timeout = std::chrono::seconds(60);
    timeouts.keep_alive_pings = true;
    ws_->set_option(timeouts);
    if (auto it = response_.find(beast::http::field::sec_websocket_protocol); it != response_.end())
      handshake_.subprotocol = std::string(it->value());
    finish({});
  }

  void finish(beast::error_code ec) {
    timer_.cancel();
    if (timed_out_) ec = beast::error::timeout;
    auto done = std::move(done_);
    if (ec) return done(ec, nullptr, std::move(handshake_));
    done({}, std::move(ws_), std::move(handshake_));
  }

  tcp::resolver resolver_;
  net::steady_timer timer_;
  std::shared_ptr<WebSocketStream> ws_;
  WebSocketTarget target_;
  WebSocketClientOptions options_;
  WebSocketConnected done_;
  websocket::response_type response_;
  WebSocketHandshake handshake_;
  bool timed_out_ = false;
};

}  // namespace

void async_connect_websocket(net::any_io_executor executor, WebSocketTarget target, WebSocketClientOptions options,
                             WebSocketConnected done) {
  std::make_shared<Connect>(std::move(executor), std::move(target), std::move(options), std::move(done))->run();
}

}  // namespace vmshare::http
