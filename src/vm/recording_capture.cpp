#include "vm/recording_capture.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include <spdlog/spdlog.h>

#include "vm/rfb_server_messages.h"

namespace vmshare::vm {

namespace {

using Clock = std::chrono::steady_clock;

// Why the capture ends, thrown from deep in the loop to run().
struct CaptureEnded {
  std::string why;
};

std::string be16(std::uint32_t v) { return {char(v >> 8), char(v)}; }
std::string be32(std::uint32_t v) { return be16(v >> 16) + be16(v & 0xffff); }

// noVNC's pixel format (core/rfb.js RFB.messages.pixelFormat with depth 24).
std::string novnc_pixel_format() {
  std::string pf;
  pf += char(32);  // bits per pixel
  pf += char(24);  // depth
  pf += char(0);   // little-endian
  pf += char(1);   // true colour
  pf += be16(255) + be16(255) + be16(255);
  pf += char(0);  // red shift
  pf += char(8);  // green shift
  pf += char(16);  // blue shift
  pf.append(3, '\0');
  return pf;
}

int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : left > 60000 ? 60000 : static_cast<int>(left);
}

}  // namespace

std::shared_ptr<RecordingCapture> RecordingCapture::start(UniqueFd vnc, UniqueFd file, CaptureOptions options,
                                                          OnEnd on_end) {
  auto capture = std::make_shared<RecordingCapture>(std::move(vnc), std::move(file), options, std::move(on_end));
  // The thread holds the capture; nobody joins it, so on_end may drop the last other reference.
  std::thread([self = capture] { self->run(); }).detach();
  return capture;
}

RecordingCapture::RecordingCapture(UniqueFd vnc, UniqueFd file, CaptureOptions options, OnEnd on_end)
    : vnc_(std::move(vnc)), file_(std::move(file)), wake_(::eventfd(0, EFD_CLOEXEC)), options_(options),
      on_end_(std::move(on_end)) {
  if (!wake_) throw VmError("cannot start a recording");
}

RecordingCapture::~RecordingCapture() = default;

void RecordingCapture::stop() {
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void RecordingCapture::run() {
  auto result = capture();
  vnc_.reset();
  if (::fsync(file_.get()) != 0) spdlog::warn("recording: fsync failed: {}", std::strerror(errno));
  file_.reset();
  try {
    if (on_end_) on_end_(result);
  } catch (const std::exception& e) {
    spdlog::error("recording: finishing it failed: {}", e.what());
  }
}

CaptureResult RecordingCapture::capture() {
  CaptureResult result;
  try {
    std::string version, init;
    handshake(version, init);
    const auto header = encode_recording_header({version, init});
    if (header.size() > options_.caps.max_bytes) throw CaptureEnded{"size cap"};
    write_file(header);
    result.bytes = header.size();
    record_loop(std::move(init), result);
  } catch (const CaptureEnded& e) {
    result.ended = e.why;
  } catch (const std::exception& e) {
    result.ended = std::string("failed: ") + e.what();
  }
  result.bytes = bytes_.load();
  return result;
}

void RecordingCapture::handshake(std::string& server_version, std::string& server_init) {
  const auto deadline = Clock::now() + options_.handshake_timeout;
  server_version = read_exact(12, deadline);
  if (server_version.rfind("RFB 003.", 0) != 0) throw CaptureEnded{"failed: not an RFB server"};
  server_version = "RFB 003.008\n";
  send_all(server_version);
  const auto count = std::uint8_t(read_exact(1, deadline)[0]);
  if (count == 0) throw CaptureEnded{"failed: the VNC server refused the connection"};
  const auto types = read_exact(count, deadline);
  if (types.find(char(1)) == std::string::npos) throw CaptureEnded{"failed: no None security type"};
  send_all(std::string(1, char(1)));
  if (read_exact(4, deadline) != std::string(4, '\0')) throw CaptureEnded{"failed: security handshake refused"};
  send_all(std::string(1, char(1)));  // ClientInit: shared
  server_init = read_exact(24, deadline);
  const auto name_len = (std::uint32_t(std::uint8_t(server_init[20])) << 24) |
                        (std::uint32_t(std::uint8_t(server_init[21])) << 16) |
                        (std::uint32_t(std::uint8_t(server_init[22])) << 8) | std::uint8_t(server_init[23]);
  if (name_len > 4096) throw CaptureEnded{"failed: desktop name too long"};
  server_init += read_exact(name_len, deadline);
  // The pixel format the stream will be in from now on, as a replay announces it.
  const auto pf = novnc_pixel_format();
  server_init.replace(4, 16, pf);
  send_all(std::string(4, '\0') + pf);  // SetPixelFormat: type 0, 3 padding bytes
  const std::int32_t encodings[] = {rfb::kEncHextile, rfb::kEncCopyRect, rfb::kEncRaw, rfb::kEncDesktopSize};
  std::string set_encodings = {char(2), char(0)};
  set_encodings += be16(std::size(encodings));
  for (auto e : encodings) set_encodings += be32(static_cast<std::uint32_t>(e));
  send_all(set_encodings);
}

void RecordingCapture::record_loop(std::string server_init, CaptureResult& result) {
  rfb::FramebufferShape shape;
  shape.width = static_cast<std::uint16_t>((std::uint8_t(server_init[0]) << 8) | std::uint8_t(server_init[1]));
  shape.height = static_cast<std::uint16_t>((std::uint8_t(server_init[2]) << 8) | std::uint8_t(server_init[3]));
  const auto started = Clock::now();
  const auto length_deadline = started + std::chrono::milliseconds(options_.caps.max_ms);
  auto next_full = started + options_.full_frame_every;
  auto next_incremental = Clock::time_point::max();  // none due while one is outstanding
  request_update(false, shape.width, shape.height);
  auto last_request = Clock::now();
  std::string pending;
  rfb::FramingProgress framing;  // where framing the message at the start of `pending` stopped
  char chunk[64 * 1024];
  for (;;) {
    const auto wake_at = std::min({next_full, next_incremental, length_deadline});
    pollfd fds[2] = {{vnc_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, poll_ms(wake_at)) < 0 && errno != EINTR) throw CaptureEnded{"failed: poll"};
    if (stopping_ || (fds[1].revents & POLLIN)) throw CaptureEnded{"stopped"};
    const auto now = Clock::now();
    if (now >= length_deadline) throw CaptureEnded{"length cap"};
    if (now >= next_full) {
      request_update(false, shape.width, shape.height);
      next_full = now + options_.full_frame_every;
    }
    if (now >= next_incremental) {
      request_update(true, shape.width, shape.height);
      last_request = now;
      next_incremental = Clock::time_point::max();
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const auto n = ::read(vnc_.get(), chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) throw CaptureEnded{"VM ended"};
    pending.append(chunk, static_cast<std::size_t>(n));
    for (;;) {
      const auto m = rfb::frame_server_message(pending, shape, framing);
      if (m.status == rfb::ServerMessage::Status::invalid) throw CaptureEnded{std::string("failed: ") + m.why};
      if (m.status == rfb::ServerMessage::Status::incomplete) {
        // A message that could never fit under the size cap is not waited for.
        if (bytes_ + kRecordHeaderBytes + pending.size() > options_.caps.max_bytes) throw CaptureEnded{"size cap"};
        break;
      }
      RecordHeader record;
      record.t_ms = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
      record.length = static_cast<std::uint32_t>(m.length);
      record.width = m.shape.width;
      record.height = m.shape.height;
      record.flags = rfb::is_full_frame(m) ? kFullFrame : 0;
      switch (check_caps(options_.caps, bytes_, kRecordHeaderBytes + m.length, record.t_ms, result.records)) {
        case CapVerdict::size_cap: throw CaptureEnded{"size cap"};
        case CapVerdict::length_cap: throw CaptureEnded{"length cap"};
        case CapVerdict::record_cap: throw CaptureEnded{"record cap"};
        case CapVerdict::fits: break;
      }
      write_file(encode_record_header(record) + pending.substr(0, m.length));
      pending.erase(0, m.length);
      shape = m.shape;
      ++result.records;
      result.duration_ms = record.t_ms;
      if (m.type == 0) next_incremental = std::max(Clock::now(), last_request + options_.min_request_gap);
    }
  }
}

std::string RecordingCapture::read_exact(std::size_t n, Clock::time_point deadline) {
  std::string out;
  out.reserve(n);
  char buf[4096];
  while (out.size() < n) {
    pollfd fds[2] = {{vnc_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int ready = ::poll(fds, 2, poll_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (stopping_) throw CaptureEnded{"stopped"};
    if (ready == 0) throw CaptureEnded{"failed: the VNC handshake timed out"};
    const auto r = ::read(vnc_.get(), buf, std::min(sizeof buf, n - out.size()));
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) throw CaptureEnded{"VM ended"};
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

void RecordingCapture::send_all(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto r = ::send(vnc_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw CaptureEnded{"VM ended"};
    sent += static_cast<std::size_t>(r);
  }
}

void RecordingCapture::write_file(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto r = ::write(file_.get(), bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw CaptureEnded{std::string("failed: writing the file: ") + std::strerror(errno)};
    done += static_cast<std::size_t>(r);
  }
  bytes_ += bytes.size();
}

void RecordingCapture::request_update(bool incremental, std::uint16_t width, std::uint16_t height) {
  std::string m = {char(3), char(incremental ? 1 : 0)};
  m += be16(0) + be16(0) + be16(width) + be16(height);
  send_all(m);
}

}  // namespace vmshare::vm
