#include "vm/console_bridge.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <spdlog/spdlog.h>

#include "vm/console_stats.h"

namespace vmshare::vm {

namespace net = boost::asio;
namespace beast = boost::beast;

namespace {
std::atomic<ConsoleBridge::Relay> g_relay{ConsoleBridge::Relay::copy};
}  // namespace

void ConsoleBridge::set_relay(Relay relay) { g_relay.store(relay, std::memory_order_relaxed); }

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
      return bridge->shut_down(ws::kCloseTryAgainLater, "console unavailable");
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

// Beast answered the upgrade; from here the bridge frames itself. Destroying Beast's stream here
// also ends its keep-alive timer, which would otherwise write pings to a socket it no longer has.
boost::asio::ip::tcp::socket take_socket(WebSocketStream&& accepted) {
  WebSocketStream ws(std::move(accepted));
  return beast::get_lowest_layer(ws).release_socket();
}

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }
}  // namespace

ConsoleBridge::ConsoleBridge(WebSocketStream&& ws, std::string vnc_socket_path, ViewerSpec spec, Hooks hooks)
    : strand_(ws.get_executor()),
      tcp_(take_socket(std::move(ws))),
      vnc_(strand_),
      close_timer_(strand_),
      keepalive_timer_(strand_),
      vnc_path_(std::move(vnc_socket_path)),
      label_(label_of_path(vnc_path_)),
      spec_(std::move(spec)),
      meter_(std::make_shared<ViewerMeter>(ViewerMeter::Clock::now())),
      hooks_(std::move(hooks)),
      relay_(g_relay.load(std::memory_order_relaxed)),
      from_browser_(new std::uint8_t[kToVmBytes]) {
  error_code ignored;
  // A frame's tail would otherwise wait for the browser's delayed ACK (Nagle): ~40 ms a frame.
  tcp_.set_option(net::ip::tcp::no_delay(true), ignored);
  tcp_.native_non_blocking(true, ignored);  // splice and send below must never block the loop
  int fds[2];
  if (relay_ == Relay::copy) {
    copy_buffer_.reset(new char[chunk_capacity_]);
  } else if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
    pipe_read_ = fds[0];
    pipe_write_ = fds[1];
    chunk_capacity_ = static_cast<std::size_t>(std::max(::fcntl(pipe_write_, F_GETPIPE_SZ), 4096));
  }
  console_stats().open.fetch_add(1, std::memory_order_relaxed);
}

ConsoleBridge::~ConsoleBridge() {
  // Only reached without finishing when the io_context is destroyed with our handlers queued.
  if (!finished_) fire_closed();
  if (pipe_read_ >= 0) ::close(pipe_read_);
  if (pipe_write_ >= 0) ::close(pipe_write_);
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
    self->shut_down(ws::kCloseGoingAway, reason.empty() ? "closed" : reason);
  });
}

void ConsoleBridge::connect() {
  boost::asio::local::stream_protocol::endpoint endpoint;
  try {
    endpoint = boost::asio::local::stream_protocol::endpoint(vnc_path_);
  } catch (const std::exception& e) {  // path longer than sun_path
    spdlog::warn("console {}: {}", vm_label(), e.what());
    return shut_down(ws::kCloseTryAgainLater, "console unavailable");
  }
  ++ops_;
  vnc_.async_connect(endpoint, [self = shared_from_this()](error_code ec) { self->on_connected(ec); });
}

void ConsoleBridge::on_connected(error_code ec) {
  op_done();
  if (closing_) return finish_if_idle();
  if (ec) {
    spdlog::warn("console {}: connect failed: {}", vm_label(), ec.message());
    return shut_down(ws::kCloseTryAgainLater, "console unavailable");
  }
  if (relay_ == Relay::splice && pipe_read_ < 0) {
    spdlog::warn("console {}: no pipe: {}", vm_label(), std::strerror(errno));
    return shut_down(ws::kCloseTryAgainLater, "console unavailable");
  }
  spdlog::debug("console {}: bridged", vm_label());
  begin();
}

void ConsoleBridge::begin() {
  error_code ignored;
  vnc_.native_non_blocking(true, ignored);
  last_from_browser_ = std::chrono::steady_clock::now();
  arm_keepalive();
  read_browser();
  pump();
}

// ---- the one writer to the browser ----

// Sends what is due, in order: the rest of the data frame being sent, then one control frame,
// then (while open) the next chunk from the VM. Returns when every source waits or is done.
void ConsoleBridge::pump() {
  while (tcp_.is_open() && !waiting_writable_) {
    Step step;
    if (header_sent_ < header_size_ || payload_left_ > 0) {
      step = send_frame_part();
    } else if (control_sent_ < control_out_.size()) {
      step = send_control_part();
    } else if (!close_wanted_.empty() && !close_sent_) {
      control_out_ = std::move(close_wanted_);
      close_wanted_.clear();
      control_sent_ = 0;
      close_sent_ = true;  // it is the last frame: nothing is queued behind it
      continue;
    } else if (close_sent_) {
      if (close_received_ || !await_close_reply_) close_tcp();  // the closing handshake is complete
      return finish_if_idle();
    } else if (pong_wanted_) {
      control_out_ = ws::control_frame(ws::Opcode::pong, *pong_wanted_);
      control_sent_ = 0;
      pong_wanted_.reset();
      continue;
    } else if (ping_wanted_) {
      control_out_ = ws::control_frame(ws::Opcode::ping, "");
      control_sent_ = 0;
      ping_wanted_ = false;
      continue;
    } else if (!closing_ && !waiting_vm_) {
      step = read_from_vm();
    } else {
      return;
    }
    if (step != Step::progressed) return;
  }
}

ConsoleBridge::Step ConsoleBridge::send_frame_part() {
  const int fd = tcp_.native_handle();
  ssize_t n;
  if (relay_ == Relay::copy) {
    // Header and payload in one gathered send.
    iovec parts[2] = {{header_.data() + header_sent_, header_size_ - header_sent_},
                      {copy_buffer_.get() + copy_sent_, payload_left_}};
    msghdr message{};
    message.msg_iov = parts[0].iov_len ? parts : parts + 1;
    message.msg_iovlen = parts[0].iov_len ? 2 : 1;
    n = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      auto sent = static_cast<std::size_t>(n);
      const auto from_header = std::min(sent, header_size_ - header_sent_);
      header_sent_ += from_header;
      sent -= from_header;
      copy_sent_ += sent;
      payload_left_ -= sent;
      if (payload_left_ == 0) frame_sent();
    }
  } else if (header_sent_ < header_size_) {
    // MSG_MORE: the header waits for the payload, so both leave in the same segments.
    n = ::send(fd, header_.data() + header_sent_, header_size_ - header_sent_, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
    if (n > 0) header_sent_ += static_cast<std::size_t>(n);
  } else {
    n = ::splice(pipe_read_, nullptr, fd, nullptr, payload_left_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) payload_left_ -= static_cast<std::size_t>(n);
    if (n > 0 && payload_left_ == 0) frame_sent();
  }
  return n >= 0 ? Step::progressed : after_failed_send();
}

ConsoleBridge::Step ConsoleBridge::send_control_part() {
  const ssize_t n = ::send(tcp_.native_handle(), control_out_.data() + control_sent_,
                           control_out_.size() - control_sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) {
    control_sent_ += static_cast<std::size_t>(n);
    if (control_sent_ == control_out_.size()) {
      control_out_.clear();
      control_sent_ = 0;
    }
    return Step::progressed;
  }
  return after_failed_send();
}

// A send or splice to the browser returned -1: wait for room, retry, or give up on the browser.
ConsoleBridge::Step ConsoleBridge::after_failed_send() {
  if (would_block(errno)) {
    wait_browser_writable();
    return Step::waiting;
  }
  if (errno == EINTR) return Step::progressed;
  spdlog::debug("console {}: WebSocket write: {}", vm_label(), std::strerror(errno));
  browser_failed();
  return Step::stopped;
}

// Takes what the VM has sent (copy: up to the buffer's size; splice: up to the pipe's) and
// starts its frame.
ConsoleBridge::Step ConsoleBridge::read_from_vm() {
  if (relay_ == Relay::copy && copy_buffer_full_ && chunk_capacity_ < kToBrowserMaxBytes) {
    chunk_capacity_ *= 2;  // the last read filled it: more was waiting
    copy_buffer_.reset(new char[chunk_capacity_]);
  }
  // splice asks for everything: the pipe's slots, not this length, bound it (a slot holds one
  // fragment of the VM's socket buffer, up to 32 KiB, so even a 64 KiB pipe can take ~300 KB).
  const ssize_t n = relay_ == Relay::copy
                        ? ::recv(vnc_.native_handle(), copy_buffer_.get(), chunk_capacity_, MSG_DONTWAIT)
                        : ::splice(vnc_.native_handle(), nullptr, pipe_write_, nullptr, kToBrowserMaxBytes,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    start_frame(static_cast<std::size_t>(n));
    return Step::progressed;
  }
  if (n < 0 && would_block(errno)) {
    wait_vm_readable();
    return Step::waiting;
  }
  if (n < 0 && errno == EINTR) return Step::progressed;
  if (n < 0) spdlog::info("console {}: VNC read: {}", vm_label(), std::strerror(errno));
  shut_down(ws::kCloseGoingAway, "console closed by the VM");
  return Step::stopped;
}

void ConsoleBridge::start_frame(std::size_t bytes) {
  if (auto latency = meter_->bytes_from_vm(bytes, ViewerMeter::Clock::now())) observe_input_latency(*latency);
  payload_left_ = frame_bytes_ = bytes;
  header_size_ = ws::server_frame_header(ws::Opcode::binary, bytes, header_);
  header_sent_ = 0;
  if (relay_ == Relay::copy) {
    copy_sent_ = 0;
    copy_buffer_full_ = bytes == chunk_capacity_;
  } else if (bytes >= chunk_capacity_ / 2 && chunk_capacity_ < kToBrowserMaxBytes) {
    // Framebuffer updates, not a text console: a pipe of the largest size takes a whole update
    // in one splice (one frame, one push into TCP instead of several).
    const int grown = ::fcntl(pipe_write_, F_SETPIPE_SZ, static_cast<int>(kToBrowserMaxBytes));
    if (grown > 0) chunk_capacity_ = static_cast<std::size_t>(grown);
  }
}

void ConsoleBridge::frame_sent() {
  console_stats().bytes_to_browser.fetch_add(static_cast<std::int64_t>(frame_bytes_), std::memory_order_relaxed);
  header_size_ = header_sent_ = 0;
}

void ConsoleBridge::wait_browser_writable() {
  waiting_writable_ = true;
  ++ops_;
  tcp_.async_wait(TcpSocket::wait_write, [self = shared_from_this()](error_code ec) {
    self->op_done();
    self->waiting_writable_ = false;
    if (ec) {
      if (ec != net::error::operation_aborted) self->browser_failed();
      return self->finish_if_idle();
    }
    self->pump();
  });
}

void ConsoleBridge::wait_vm_readable() {
  waiting_vm_ = true;
  ++ops_;
  vnc_.async_wait(VncSocket::wait_read, [self = shared_from_this()](error_code ec) {
    self->op_done();
    self->waiting_vm_ = false;
    if (self->closing_) return self->finish_if_idle();
    if (ec) {
      spdlog::info("console {}: VNC wait: {}", self->vm_label(), ec.message());
      return self->shut_down(ws::kCloseGoingAway, "console closed by the VM");
    }
    self->pump();
  });
}

// The browser's connection failed or was reset: nothing more can be sent to it.
void ConsoleBridge::browser_failed() {
  if (!closing_) return shut_down(ws::kCloseNormal, {});
  close_tcp();
}

// ---- browser -> VM ----

void ConsoleBridge::read_browser() {
  if (reading_browser_ || !tcp_.is_open() || close_received_) return;
  reading_browser_ = true;
  ++ops_;
  tcp_.async_read_some(net::buffer(from_browser_.get(), kToVmBytes),
                       [self = shared_from_this()](error_code ec, std::size_t n) { self->on_browser_read(ec, n); });
}

void ConsoleBridge::on_browser_read(error_code ec, std::size_t n) {
  op_done();
  reading_browser_ = false;
  if (ec) {
    if (ec != net::error::eof && ec != net::error::operation_aborted)
      spdlog::debug("console {}: WebSocket read: {}", vm_label(), ec.message());
    if (ec != net::error::operation_aborted) browser_failed();
    return finish_if_idle();
  }
  last_from_browser_ = std::chrono::steady_clock::now();
  browser_data_.clear();
  controls_.clear();
  const auto status = frames_.feed(from_browser_.get(), n, browser_data_, controls_);
  for (const auto& control : controls_) on_control(control);
  if (status == ws::ClientFrameReader::Status::error) {
    spdlog::info("console {}: viewer {} closed: WebSocket protocol error ({})", vm_label(), viewer_id_,
                 frames_.error_reason());
    await_close_reply_ = false;  // RFC 6455 7.1.7: fail the connection, no closing handshake
    shut_down(ws::kCloseProtocolError, "WebSocket protocol error");
    return finish_if_idle();
  }
  if (closing_) {  // waiting for the browser's close frame: data no longer matters
    read_browser();
    pump();
    return finish_if_idle();
  }
  pump();  // a pong to send, perhaps
  forward_to_vm();
}

void ConsoleBridge::on_control(const ws::ClientFrameReader::Control& control) {
  switch (control.opcode) {
    case ws::Opcode::ping:
      if (!closing_) pong_wanted_ = control.payload;
      break;
    case ws::Opcode::close:
      close_received_ = true;
      if (!closing_) {
        const auto code = control.close_code == ws::kCloseNoStatus ? ws::kCloseNormal : control.close_code;
        shut_down(code, "closed by the viewer");
      }
      break;
    default:  // pong: an answer to our keep-alive ping; the read already counts as activity
      break;
  }
}

// RFB is a byte stream, so WebSocket message boundaries and the text/binary flag do not matter.
// Every chunk goes through the client-stream parser first (headers only: bodies are skipped): a
// control viewer's chunk is then forwarded as is, a view-only viewer's as the filter leaves it.
void ConsoleBridge::forward_to_vm() {
  if (browser_data_.empty()) return read_browser();
  const auto* data = reinterpret_cast<const std::uint8_t*>(browser_data_.data());
  const auto n = browser_data_.size();
  net::const_buffer forward(browser_data_.data(), n);
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
#ifndef VMSHARE_BENCH_WITHOUT_CLIENT_PARSER
    status = stream_.feed(data, n, messages_);
#else
    status = RfbClientStream::Status::ok;  // bench/bridge_only_noparse only: the parser's cost, by difference
#endif
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
  shut_down(ws::kClosePolicy, "protocol error");
}

void ConsoleBridge::on_vm_written(error_code ec, std::size_t n) {
  op_done();
  if (closing_) {
    read_browser();  // for the browser's close frame
    return finish_if_idle();
  }
  if (ec) {
    spdlog::info("console {}: VNC write: {}", vm_label(), ec.message());
    return shut_down(ws::kCloseGoingAway, "console closed by the VM");
  }
  if (input_in_flight_) {  // the VM has the input now: the latency clock starts
    input_in_flight_ = false;
    meter_->input_forwarded(ViewerMeter::Clock::now());
  }
  console_stats().bytes_to_vm.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  read_browser();
}

// ---- keep-alive and teardown ----

void ConsoleBridge::arm_keepalive() {
  ++ops_;
  keepalive_timer_.expires_after(hooks_.timing.ping_after_idle / 2);
  keepalive_timer_.async_wait([self = shared_from_this()](error_code ec) {
    self->op_done();
    if (ec || self->closing_) return self->finish_if_idle();
    const auto idle = std::chrono::steady_clock::now() - self->last_from_browser_;
    if (idle >= self->hooks_.timing.idle_timeout) {
      spdlog::debug("console {}: viewer {} silent for {} ms: closed", self->vm_label(), self->viewer_id_,
                    std::chrono::duration_cast<std::chrono::milliseconds>(idle).count());
      return self->shut_down(ws::kCloseGoingAway, {});
    }
    if (idle >= self->hooks_.timing.ping_after_idle) {
      self->ping_wanted_ = true;
      self->pump();
    }
    self->arm_keepalive();
  });
}

void ConsoleBridge::shut_down(std::uint16_t code, const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  error_code ignored;
  keepalive_timer_.cancel();
  vnc_.close(ignored);  // aborts a pending VNC wait, write or connect
  pong_wanted_.reset();
  ping_wanted_ = false;
  if (reason.empty() || !tcp_.is_open()) {
    close_tcp();
    return finish_if_idle();
  }
  // After the data frame being sent, if any (pump). A browser that stopped reading would hold
  // it forever, hence the grace timer that cuts the connection.
  close_wanted_ = ws::close_frame(code, reason);
  ++ops_;
  close_timer_.expires_after(kCloseGrace);
  close_timer_.async_wait([self = shared_from_this()](error_code ec) {
    self->op_done();
    if (!ec) self->close_tcp();
    self->finish_if_idle();
  });
  read_browser();  // the browser's close frame ends the handshake
  pump();
  finish_if_idle();
}

void ConsoleBridge::close_tcp() {
  error_code ignored;
  close_timer_.cancel();
  if (!tcp_.is_open()) return;
  tcp_.shutdown(TcpSocket::shutdown_both, ignored);
  tcp_.close(ignored);  // aborts a pending read or wait
}

void ConsoleBridge::op_done() { --ops_; }

void ConsoleBridge::finish_if_idle() {
  if (!closing_ || ops_ > 0 || finished_) return;
  if (tcp_.is_open()) close_tcp();  // nothing left to wait for
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
