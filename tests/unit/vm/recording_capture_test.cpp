// The recorder against a scripted RFB server on a socketpair: what it asks for, what it writes,
// and how it ends (stop, cap, the VM closing the connection).
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "vm/recording_capture.h"
#include "vm/recording_format.h"

using namespace vmshare::vm;
using namespace std::chrono_literals;

namespace {

std::string be16(std::uint32_t v) { return {char(v >> 8), char(v)}; }
std::string be32(std::uint32_t v) { return be16(v >> 16) + be16(v & 0xffff); }

bool read_n(int fd, std::string& out, std::size_t n) {
  out.assign(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    auto r = ::read(fd, out.data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}
void write_all(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

// A 4x2 screen; each update request gets a full raw frame whose pixels are the request's number.
struct FakeServer {
  int fd;
  std::vector<std::string> sent;      // FramebufferUpdates, in order
  std::vector<bool> incremental;      // of each request
  std::string pixel_format, encodings;
  int bells = 0;  // sent right after the handshake (a guest flooding the recorder)
  void run(int frames_then_close) {
    std::string buf;
    write_all(fd, "RFB 003.008\n");
    read_n(fd, buf, 12);
    write_all(fd, std::string{char(1), char(1)});
    read_n(fd, buf, 1);
    write_all(fd, std::string(4, '\0'));
    read_n(fd, buf, 1);
    std::string init = be16(4) + be16(2) + std::string{char(32), char(24), 0, 1} + be16(255) + be16(255) + be16(255);
    init += std::string{char(16), char(8), 0, 0, 0, 0} + be32(4) + "fake";
    write_all(fd, init);
    read_n(fd, pixel_format, 20);
    read_n(fd, buf, 4);
    read_n(fd, encodings, 4 * ((std::uint8_t(buf[2]) << 8) | std::uint8_t(buf[3])));
    if (bells) write_all(fd, std::string(static_cast<std::size_t>(bells), char(2)));
    for (int i = 0; i < frames_then_close; ++i) {
      if (!read_n(fd, buf, 10) || buf[0] != 3) return;
      incremental.push_back(buf[1] != 0);
      std::string msg = std::string{0, 0} + be16(1) + be16(0) + be16(0) + be16(4) + be16(2) + be32(0);
      msg += std::string(32, char('a' + i));
      sent.push_back(msg);
      // Split across writes, as a socket may deliver it.
      write_all(fd, msg.substr(0, 7));
      write_all(fd, msg.substr(7));
    }
  }
};

struct CaptureRun {
  UniqueFd file{::memfd_create("rec", MFD_CLOEXEC)};
  int file_fd = file.get();
  UniqueFd dup{::dup(file_fd)};
  std::promise<CaptureResult> ended;
};

std::shared_ptr<RecordingCapture> start(CaptureRun& run, int client_fd, CaptureOptions options) {
  return RecordingCapture::start(UniqueFd(client_fd), std::move(run.file), options,
                                 [&run](const CaptureResult& r) { run.ended.set_value(r); });
}

CaptureOptions quick_options() {
  CaptureOptions o;
  o.caps = {1 << 20, 60000};
  o.full_frame_every = 150ms;
  o.min_request_gap = 10ms;
  o.handshake_timeout = 2s;
  return o;
}

}  // namespace

TEST(RecordingCapture, RecordsWhatTheServerSentAndEndsWithTheVm) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  FakeServer server{pair[1]};
  CaptureRun run;
  auto capture = start(run, pair[0], quick_options());
  std::thread t([&] { server.run(30); ::close(server.fd); });
  auto future = run.ended.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  t.join();
  const auto result = future.get();
  EXPECT_EQ(result.ended, "VM ended");
  EXPECT_EQ(result.records, 30u);
  // noVNC's pixel format and only stateless encodings were asked for.
  EXPECT_EQ(server.pixel_format.substr(4, 4), std::string({char(32), char(24), 0, 1}));
  EXPECT_EQ(server.pixel_format.substr(14, 3), std::string({0, char(8), char(16)}));
  EXPECT_EQ(server.encodings, be32(5) + be32(1) + be32(0) + be32(std::uint32_t(-223)));
  EXPECT_FALSE(server.incremental.at(0));
  EXPECT_TRUE(server.incremental.at(1));
  EXPECT_GE(std::count(server.incremental.begin(), server.incremental.end(), false), 2);  // periodic full frames

  const auto index = read_recording_index(run.dup.get());
  // The header announces the pixel format the stream is in, not the server's.
  EXPECT_EQ(index.header.server_init.substr(4, 16), server.pixel_format.substr(4, 16));
  EXPECT_EQ(index.header.server_init.substr(24), "fake");
  ASSERT_EQ(index.records.size(), server.sent.size());
  for (std::size_t i = 0; i < index.records.size(); ++i) {
    std::string payload(index.records[i].header.length, '\0');
    ASSERT_EQ(::pread(run.dup.get(), payload.data(), payload.size(),
                      static_cast<off_t>(index.records[i].offset + kRecordHeaderBytes)),
              static_cast<ssize_t>(payload.size()));
    EXPECT_EQ(payload, server.sent[i]) << i;
    EXPECT_TRUE(index.records[i].header.full_frame());  // each covers the whole 4x2 screen
    if (i) EXPECT_GE(index.records[i].header.t_ms, index.records[i - 1].header.t_ms);
  }
}

TEST(RecordingCapture, StopsAtTheSizeCapAfterWholeRecordsOnly) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  FakeServer server{pair[1]};
  CaptureRun run;
  auto options = quick_options();
  const auto header = encode_recording_header({"RFB 003.008\n", std::string(28, 'x')}).size();
  options.caps.max_bytes = header + 3 * (kRecordHeaderBytes + 48) + 10;  // room for three frames
  auto capture = start(run, pair[0], options);
  std::thread t([&] { server.run(1000); });
  auto future = run.ended.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  ::shutdown(server.fd, SHUT_RDWR);
  t.join();
  ::close(server.fd);
  const auto result = future.get();
  EXPECT_EQ(result.ended, "size cap");
  EXPECT_EQ(result.records, 3u);
  EXPECT_LE(result.bytes, options.caps.max_bytes);
  EXPECT_EQ(read_recording_index(run.dup.get()).records.size(), 3u);
}

TEST(RecordingCapture, StopEndsItPromptly) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  FakeServer server{pair[1]};
  CaptureRun run;
  auto options = quick_options();
  options.full_frame_every = 1h;
  auto capture = start(run, pair[0], options);
  std::thread t([&] { server.run(1); });  // one frame, then silence: an idle screen
  t.join();
  std::this_thread::sleep_for(100ms);
  capture->stop();
  auto future = run.ended.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().ended, "stopped");
  EXPECT_EQ(read_recording_index(run.dup.get()).records.size(), 1u);
  ::close(server.fd);
}

// Every record is guest-made: a flood of 1-byte Bells must not become millions of records (each
// an entry of every replay's index), whatever room the size cap leaves.
TEST(RecordingCapture, AFloodOfTinyMessagesEndsItAtTheRecordCap) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  FakeServer server{pair[1]};
  server.bells = 5000;
  CaptureRun run;
  auto options = quick_options();
  options.caps.max_records = 100;
  auto capture = start(run, pair[0], options);
  std::thread t([&] { server.run(1000); });
  auto future = run.ended.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  ::shutdown(server.fd, SHUT_RDWR);
  t.join();
  ::close(server.fd);
  const auto result = future.get();
  EXPECT_EQ(result.ended, "record cap");
  EXPECT_EQ(result.records, 100u);
  EXPECT_EQ(read_recording_index(run.dup.get()).records.size(), 100u);
}
