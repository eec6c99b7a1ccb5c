#include "vm/console_bridge.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vm/console_stats.h"

namespace vmshare::vm {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

namespace {
// RFC 6455: a close frame's payload is at most 125 bytes, two of which are the code.
std::string clamp_reason(const std::string& reason) {
  return reason.size() <= 123 ? reason : reason.substr(0, 123);
}
}  // namespace

void ConsoleBridge::tune_vm_end(int fd) {
  const int size = kVmSendBuffer;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

std::shared_ptr<ConsoleBridge> ConsoleBridge::start(WebSocketStream&& ws, std::string vnc_socket_path,
                                                    ViewerSpec spec, Hooks hooks) {
  auto bridge = std::make_shared<ConsoleBridge>(std::move(ws), std::move(vnc_socket_path), std::move(spec),
                                                std::move(hooks));
  bridge->register_viewer();
  net::dispatch(bridge->strand_, [bridge] { bridge->connect(); });
  return bridge;
}

std::shared_ptr<ConsoleBridge> ConsoleBridge::start_connected(WebSocketStream&& ws, int vnc_fd, ViewerSpec spec,
                                                              Hooks hooks) {
  auto bridge = std::make_shared<ConsoleBridge>(std::move(ws), std::string(), std::move(spec), std::move(hooks));
  bridge->label_ = bridge->spec_.vmid.empty() ? "vm" : bridge->spec_.vmid;
  bridge->register_viewer();
  error_code ec;
  bridge->vnc_.assign(boost::asio::local::stream_protocol(), vnc_fd, ec);
  if (ec) ::close(vnc_fd);
  net::dispatch(bridge->strand_, [bridge, ec] {
    if (ec) {
      spdlog::warn("console {}: {}", bridge->vm_label(), ec.message());
      return bridge->shut_down(websocket::close_code::try_again_later, "console unavailable");
    }
    ++bridge->ops_;
    bridge->on_connected({});
  });
  return bridge;
}

namespace {
// ".../<vmid>/vnc.sock" -> "<vmid>".
std::string label_of_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "vm";
  const auto parent = path.rfind('/', slash - 1);
  return path.substr(parent + 1, slash - parent - 1);
}
}  // namespace

ConsoleBridge::ConsoleBridge(WebSocketStream&& ws, std::string vnc_socket_path, ViewerSpec spec, Hooks hooks)
    : strand_(ws.get_executor()),
      ws_(std::move(ws)),
      vnc_(strand_),
      close_timer_(strand_),
      vnc_path_(std::move(vnc_socket_path)),
      label_(label_of_path(vnc_path_)),
      spec_(std::move(spec)),
      meter_(std::make_shared<ViewerMeter>(ViewerMeter::Clock::now())),
      hooks_(std::move(hooks)),
      to_browser_(new char[kToBrowserBytes]),
      to_vm_(new char[kToVmBytes]) {
  // One frame per chunk: Beast's default auto-fragmenting would cut every chunk into
  // 4 KiB frames, each its own write system call.
  ws_.auto_fragment(false);
  ws_.binary(true);
  // A frame's tail would otherwise wait for the browser's delayed ACK (Nagle): ~40 ms a frame.
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  console_stats().open.fetch_add(1, std::memory_order_relaxed);
}

ConsoleBridge::~ConsoleBridge() {
  // Only reached without finishing when the io_context is destroyed with our handlers queued.
  if (!finished_) fire_closed();
}

void ConsoleBridge::register_viewer() {
  if (spec_.vmid.empty()) spec_.vmid = label_;
  std::weak_ptr<ConsoleBridge> weak = shared_from_this();
  viewer_id_ = console_viewers().add(spec_, meter_, [weak](const std::string& reason) {
    if (auto bridge = weak.lock()) bridge->close(reason);
  });
}

ViewerInfo ConsoleBridge::info() const {
  if (auto found = console_viewers().find(viewer_id_)) return *found;
  ViewerInfo info;  // already finished: the figures without the registry's fields
  info.id = viewer_id_;
  info.vmid = spec_.vmid;
  info.mode = spec_.mode;
  meter_->fill(info, ViewerMeter::Clock::now());
  return info;
}

void ConsoleBridge::close(const std::string& reason) {
  net::post(strand_, [self = shared_from_this(), reason] {
    self->shut_down(websocket::close_code::going_away, reason.empty() ? "closed" : reason);
  });
}

void ConsoleBridge::connect() {
  boost::asio::local::stream_protocol::endpoint endpoint;
  try {
    endpoint = boost::asio::local::stream_protocol::endpoint(vnc_path_);
  } catch (const std::exception& e) {  // path longer than sun_path
    spdlog::warn("console {}: {}", vm_label(), e.what());
    return shut_down(websocket::close_code::try_again_later, "console unavailable");
  }
  ++ops_;
  vnc_.async_connect(endpoint, [self = shared_from_this()](error_code ec) { self->on_connected(ec); });
}

void ConsoleBridge::on_connected(error_code ec) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    spdlog::warn("console {}: connect failed: {}", vm_label(), ec.message());
    return shut_down(websocket::close_code::try_again_later, "console unavailable");
  }
  spdlog::debug("console {}: bridged", vm_label());
  read_vm();
  read_browser();
}

// VNC -> browser: read one chunk, write it as one binary message, only then read again.
void ConsoleBridge::read_vm() {
  ++ops_;
  vnc_.async_read_some(net::buffer(to_browser_.get(), to_browser_size_),
                       [self = shared_from_this()](error_code ec, std::size_t n) { self->on_vm_read(ec, n); });
}

void ConsoleBridge::on_vm_read(error_code ec, std::size_t n) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    if (ec != net::error::eof) spdlog::info("console {}: VNC read: {}", vm_label(), ec.message());
    return shut_down(websocket::close_code::going_away, "console closed by the VM");
  }
  if (auto latency = meter_->bytes_from_vm(n, ViewerMeter::Clock::now())) observe_input_latency(*latency);
  ++ops_;
  ws_.async_write(net::buffer(to_browser_.get(), n),
                  [self = shared_from_this()](error_code ec, std::size_t n) { self->on_browser_written(ec, n); });
}

void ConsoleBridge::on_browser_written(error_code ec, std::size_t n) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    spdlog::debug("console {}: WebSocket write: {}", vm_label(), ec.message());
    return shut_down(websocket::close_code::none, {});
  }
  console_stats().bytes_to_browser.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  if (n == to_browser_size_ && to_browser_size_ < kToBrowserMaxBytes) {
    // A full read: more was waiting. A bigger buffer halves the reads and writes per update.
    to_browser_size_ *= 2;
    to_browser_.reset(new char[to_browser_size_]);
  }
  read_vm();
}

// Browser -> VNC. RFB is a byte stream, so WebSocket message boundaries and the text/binary
// flag do not matter. Every chunk goes through the client-stream parser first (headers only:
// bodies are skipped): a control viewer's chunk is then forwarded as is, a view-only viewer's
// as the filter leaves it; a malformed stream closes this viewer with "protocol error".
void ConsoleBridge::read_browser() {
  ++ops_;
  ws_.async_read_some(net::buffer(to_vm_.get(), kToVmBytes),
                      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_browser_read(ec, n); });
}

void ConsoleBridge::on_browser_read(error_code ec, std::size_t n) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    if (ec != websocket::error::closed) spdlog::debug("console {}: WebSocket read: {}", vm_label(), ec.message());
    return shut_down(websocket::close_code::none, {});
  }
  if (n == 0) return read_browser();  // an empty frame
  const auto* data = reinterpret_cast<const std::uint8_t*>(to_vm_.get());
  net::const_buffer forward(to_vm_.get(), n);  // control: the chunk as it came
  const std::vector<RfbClientStream::Message>* messages = &messages_;
  RfbClientStream::Status status;
  if (spec_.mode == ViewerMode::view_only) {
    filtered_.clear();
    const auto dropped = filter_.dropped();
    status = filter_.filter(data, n, filtered_);
    console_stats().dropped_messages.fetch_add(static_cast<std::int64_t>(filter_.dropped() - dropped),
                                               std::memory_order_relaxed);
    messages = &filter_.last_messages();
    forward = net::buffer(filtered_);
  } else {
    messages_.clear();
    status = stream_.feed(data, n, messages_);
  }
  if (status == RfbClientStream::Status::malformed) return protocol_error();
  note_messages(*messages);
  if (forward.size() == 0) return read_browser();  // nothing this viewer may send
  ++ops_;
  net::async_write(vnc_, forward,
                   [self = shared_from_this()](error_code ec, std::size_t n) { self->on_vm_written(ec, n); });
}

// What the figures need from the messages about to reach the VM (view-only: input never does).
void ConsoleBridge::note_messages(const std::vector<RfbClientStream::Message>& messages) {
  for (const auto& m : messages) {
    if (m.type == RfbClientMessage::framebuffer_update_request) meter_->request_forwarded();
    if (m.input && spec_.mode == ViewerMode::control) input_in_flight_ = true;
  }
}

void ConsoleBridge::protocol_error() {
  const auto& why = spec_.mode == ViewerMode::view_only ? filter_.stream().error() : stream_.error();
  spdlog::info("console {}: viewer {} closed: malformed RFB stream ({})", vm_label(), viewer_id_, why);
  console_stats().protocol_errors.fetch_add(1, std::memory_order_relaxed);
  shut_down(websocket::close_code::policy_error, "protocol error");
}

void ConsoleBridge::on_vm_written(error_code ec, std::size_t n) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    spdlog::info("console {}: VNC write: {}", vm_label(), ec.message());
    return shut_down(websocket::close_code::going_away, "console closed by the VM");
  }
  if (input_in_flight_) {  // the VM has the input now: the latency clock starts
    input_in_flight_ = false;
    meter_->input_forwarded(ViewerMeter::Clock::now());
  }
  console_stats().bytes_to_vm.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  read_browser();
}

void ConsoleBridge::shut_down(websocket::close_code code, const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  error_code ignored;
  vnc_.close(ignored);  // aborts a pending VNC read/write/connect
  if (!reason.empty() && ws_.is_open()) {
    // async_close waits for an outstanding message write; a browser that stopped reading
    // would hold it forever, hence the grace timer that cuts the connection.
    ++ops_;
    ws_.async_close(websocket::close_reason(code, clamp_reason(reason)), [self = shared_from_this()](error_code) {
      self->op_done();
      self->close_timer_.cancel();
      beast::get_lowest_layer(self->ws_).close();
      self->finish_if_idle();
    });
    ++ops_;
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->op_done();
      if (!ec) beast::get_lowest_layer(self->ws_).close();
      self->finish_if_idle();
    });
  } else {
    beast::get_lowest_layer(ws_).close();  // aborts a pending WebSocket read/write
  }
  finish_if_idle();
}

void ConsoleBridge::op_done() { --ops_; }

void ConsoleBridge::finish_if_idle() {
  if (!closing_ || ops_ > 0 || finished_) return;
  fire_closed();
}

void ConsoleBridge::fire_closed() {
  finished_ = true;
  console_stats().open.fetch_sub(1, std::memory_order_relaxed);
  if (viewer_id_ != 0) console_viewers().remove(viewer_id_);
  spdlog::debug("console {}: closed", vm_label());
  if (hooks_.on_closed) {
    auto hook = std::move(hooks_.on_closed);
    hook();
  }
}

}  // namespace vmshare::vm
