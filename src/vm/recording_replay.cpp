#include "vm/recording_replay.h"

#include <unistd.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <spdlog/spdlog.h>

#include "vm/recording_plan.h"

namespace vmshare::vm {

namespace websocket = boost::beast::websocket;

void RecordingReplay::start(WebSocketStream&& ws, UniqueFd file, RecordingIndex index, std::uint32_t from_ms, int speed) {
  auto replay = std::make_shared<RecordingReplay>(std::move(ws), std::move(file), std::move(index), from_ms, speed);
  replay->ws_.binary(true);
  // Beast's default would take a 16 MiB message from the viewer; noVNC's are a few bytes (all
  // ignored here): a larger one closes the replay (1009).
  replay->ws_.read_message_max(kMaxViewerMessage);
  replay->send(replay->index_.header.server_version);
  replay->read_client();
}

RecordingReplay::RecordingReplay(WebSocketStream&& ws, UniqueFd file, RecordingIndex index, std::uint32_t from_ms,
                                 int speed)
    : ws_(std::move(ws)),
      file_(std::move(file)),
      index_(std::move(index)),
      from_ms_(from_ms),
      speed_(speed),
      timer_(ws_.get_executor()) {
  next_ = replay_start(index_.records, from_ms_);
}

void RecordingReplay::send(std::string bytes) {
  outgoing_ = std::move(bytes);
  writing_ = true;
  ws_.async_write(boost::asio::buffer(outgoing_), [self = shared_from_this()](error_code ec, std::size_t) {
    self->on_written(ec);
  });
}

void RecordingReplay::on_written(error_code ec) {
  writing_ = false;
  if (ec) return finish("");
  if (stage_ == Stage::streaming) send_next_record();
  else advance_handshake();
}

void RecordingReplay::read_client() {
  ws_.async_read(inbox_, [self = shared_from_this()](error_code ec, std::size_t) { self->on_client_read(ec); });
}

void RecordingReplay::on_client_read(error_code ec) {
  if (ec) return finish("");
  if (stage_ != Stage::streaming) {
    const auto data = inbox_.data();
    if (pending_input_.size() + data.size() > 64) return finish("");  // no RFB handshake is this long
    pending_input_.append(static_cast<const char*>(data.data()), data.size());
    advance_handshake();
  }
  inbox_.consume(inbox_.size());  // after the handshake, whatever the client says is ignored
  if (!closing_) read_client();
}

// The server's side of RFB 3.8's handshake, each step once the client's part has arrived.
void RecordingReplay::advance_handshake() {
  for (;;) {
    if (stage_ == Stage::version && pending_input_.size() >= 12 && !writing_) {
      pending_input_.erase(0, 12);
      stage_ = Stage::security;
      send(std::string{char(1), char(1)});  // one security type: None
    } else if (stage_ == Stage::security && pending_input_.size() >= 1 && !writing_) {
      if (pending_input_[0] != char(1)) return finish("security type not offered");
      pending_input_.erase(0, 1);
      stage_ = Stage::client_init;
      send(std::string(4, '\0'));  // SecurityResult: OK
    } else if (stage_ == Stage::client_init && pending_input_.size() >= 1 && !writing_) {
      pending_input_.clear();
      std::uint16_t width = 0, height = 0;
      if (next_ < index_.records.size()) {
        // The framebuffer in force where the replay starts (a DesktopSize may have come before).
        width = index_.records[next_].header.width;
        height = index_.records[next_].header.height;
      }
      auto init = index_.header.server_init;
      if (width && height) init = server_init_with_size(std::move(init), width, height);
      stage_ = Stage::streaming;
      started_ = std::chrono::steady_clock::now();
      send(std::move(init));
      return;
    } else {
      return;
    }
  }
}

void RecordingReplay::send_next_record() {
  if (closing_) return;
  if (next_ >= index_.records.size()) return finish("end of recording");
  const auto& entry = index_.records[next_];
  const auto due = started_ + replay_delay(entry.header.t_ms, from_ms_, speed_);
  if (due > std::chrono::steady_clock::now()) {
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->send_next_record();
    });
    return;
  }
  std::string payload(entry.header.length, '\0');
  std::size_t got = 0;
  const auto offset = entry.offset + kRecordHeaderBytes;
  while (got < payload.size()) {
    const auto n = ::pread(file_.get(), payload.data() + got, payload.size() - got, static_cast<off_t>(offset + got));
    if (n <= 0) return finish("the recording cannot be read");
    got += static_cast<std::size_t>(n);
  }
  ++next_;
  send(std::move(payload));
}

void RecordingReplay::finish(const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  timer_.cancel();
  if (reason.empty()) return;  // the peer is gone or failed: nothing to say
  ws_.async_close(websocket::close_reason(websocket::close_code::normal, reason),
                  [self = shared_from_this()](error_code) {});
}

}  // namespace vmshare::vm
