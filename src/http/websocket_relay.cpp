#include "http/websocket_relay.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/error.hpp>
#include <spdlog/spdlog.h>

namespace vmshare::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

namespace {
constexpr std::uint16_t kBadGateway = 1014;  // RFC 6455 registry: the upstream failed

websocket::close_reason make_reason(std::uint16_t code, const std::string& text) {
  websocket::close_reason r(code);
  // A close frame's payload is at most 125 bytes, two of which are the code.
  r.reason = text.substr(0, 123);
  return r;
}
}  // namespace

std::shared_ptr<WebSocketRelay> WebSocketRelay::start(WebSocketStream&& browser, WebSocketStream&& upstream,
                                                      Options options) {
  auto relay = std::make_shared<WebSocketRelay>(std::move(browser), std::move(upstream), std::move(options));
  net::dispatch(relay->close_timer_.get_executor(), [relay] {
    relay->read(kBrowser);
    relay->read(kUpstream);
  });
  return relay;
}

WebSocketRelay::WebSocketRelay(WebSocketStream&& browser, WebSocketStream&& upstream, Options options)
    : sides_{Side(std::move(browser)), Side(std::move(upstream))},
      close_timer_(sides_[0].ws.get_executor()),
      options_(std::move(options)) {
  for (auto& side : sides_) side.ws.auto_fragment(false);  // a piece read is one frame written
}

WebSocketRelay::~WebSocketRelay() {
  // Only reached unfinished when the io_context goes away with our handlers queued.
  if (!finished_ && options_.on_closed) options_.on_closed();
}

void WebSocketRelay::close(const std::string& reason) {
  net::post(close_timer_.get_executor(), [self = shared_from_this(), reason] {
    if (self->closing_) return;
    self->closing_ = true;
    const auto r = make_reason(websocket::close_code::going_away, reason);
    for (int side : {kBrowser, kUpstream}) self->close_gracefully(side, r);
    self->finish_if_idle();
  });
}

void WebSocketRelay::read(int from) {
  ++ops_;
  sides_[from].ws.async_read_some(net::buffer(sides_[from].buffer.get(), kBufferBytes),
                                  [self = shared_from_this(), from](error_code ec, std::size_t n) {
                                    self->on_read(from, ec, n);
                                  });
}

void WebSocketRelay::on_read(int from, error_code ec, std::size_t n) {
  op_done();
  if (closing_) return finish_if_idle();
  auto& src = sides_[from];
  // A close frame (Beast has answered it): its code and reason go on to the other side.
  if (ec == websocket::error::closed) return shut_down(from, src.ws.reason());
  if (ec) {
    spdlog::debug("websocket relay: {} read: {}", from == kBrowser ? "browser" : options_.upstream_name, ec.message());
    return shut_down(from, failure_reason(from));
  }
  const bool fin = src.ws.is_message_done();
  if (n == 0 && !fin) return read(from);  // an empty continuation: nothing to pass on yet
  auto& dst = sides_[1 - from];
  if (!dst.writing_message) dst.ws.text(src.ws.got_text());  // a message's first piece sets its type
  dst.writing_message = !fin;
  ++ops_;
  dst.ws.async_write_some(fin, net::buffer(src.buffer.get(), n),
                          [self = shared_from_this(), from](error_code ec, std::size_t) { self->on_written(from, ec); });
}

void WebSocketRelay::on_written(int from, error_code ec) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) return shut_down(1 - from, failure_reason(1 - from));
  read(from);
}

websocket::close_reason WebSocketRelay::failure_reason(int side) const {
  return side == kBrowser ? make_reason(websocket::close_code::going_away, "client went away")
                          : make_reason(kBadGateway, options_.upstream_name + " connection lost");
}

void WebSocketRelay::shut_down(int from, const websocket::close_reason& reason) {
  if (closing_) return;
  closing_ = true;
  // The side that ended needs nothing more: it closed (Beast finished that handshake) or failed.
  // Closing its socket ends our write to it, if one is pending.
  beast::get_lowest_layer(sides_[from].ws).close();
  close_gracefully(1 - from, reason);
  finish_if_idle();
}

void WebSocketRelay::close_gracefully(int side, const websocket::close_reason& reason) {
  auto& ws = sides_[side].ws;
  if (!ws.is_open()) {
    beast::get_lowest_layer(ws).close();
    return;
  }
  // async_close waits for a pending write; a peer that stopped reading would hold it forever,
  // hence the grace timer that cuts every connection left.
  if (closes_pending_++ == 0) {
    ++ops_;
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->op_done();
      if (!ec)
        for (auto& s : self->sides_) beast::get_lowest_layer(s.ws).close();
      self->finish_if_idle();
    });
  }
  ++ops_;
  ws.async_close(reason, [self = shared_from_this(), side](error_code) {
    self->op_done();
    beast::get_lowest_layer(self->sides_[side].ws).close();
    if (--self->closes_pending_ == 0) self->close_timer_.cancel();
    self->finish_if_idle();
  });
}

void WebSocketRelay::finish_if_idle() {
  if (!closing_ || ops_ > 0 || finished_) return;
  finished_ = true;
  if (options_.on_closed) {
    auto hook = std::move(options_.on_closed);
    options_.on_closed = nullptr;
    hook();
  }
}

}  // namespace vmshare::http
