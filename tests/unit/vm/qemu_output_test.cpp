// QEMU's output through a pipe into a capped log: a flood is cut at the cap and never blocks the
// writer; what was written before a drain_now() is in the file right after it.
#include "vm/qemu_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <gtest/gtest.h>

#include "test_util.h"

namespace vmshare::vm {
namespace {

class QemuOutputTest : public ::testing::Test {
 protected:
  void SetUp() override { thread_ = std::thread([this] { io_.run(); }); }
  void TearDown() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  UniqueFd open_log() { return UniqueFd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)); }
  std::string log() { return test::read_file(log_path_); }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
  test::TempDir dir_;
  std::string log_path_ = dir_ / "qemu.log";
};

TEST_F(QemuOutputTest, OutputBeforeDrainNowIsInTheLog) {
  auto pipe = QemuOutput::make_pipe();
  auto out = QemuOutput::start(io_.get_executor(), std::move(pipe.read_end), open_log(), 1024);
  const std::string line = "qemu-system-x86_64: -blockdev: could not open\n";
  ASSERT_EQ(::write(pipe.write_end.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
  out->drain_now();
  EXPECT_EQ(log(), line);
  out->close();
}

TEST_F(QemuOutputTest, AFloodIsCutAtTheCapAndNeverBlocksTheWriter) {
  constexpr std::size_t kCap = 64 * 1024;
  auto pipe = QemuOutput::make_pipe();
  auto out = QemuOutput::start(io_.get_executor(), std::move(pipe.read_end), open_log(), kCap);
  // 16 MiB through a 64 KiB pipe: finishes only if vmshare keeps reading past the cap.
  auto writer = std::async(std::launch::async, [fd = pipe.write_end.release()] {
    std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 256; ++i)
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return false;
    ::close(fd);
    return true;
  });
  ASSERT_EQ(writer.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_TRUE(writer.get());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log().find("dropped") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string text = log();
  EXPECT_EQ(text.find_first_not_of('x'), kCap);
  EXPECT_NE(text.find("further output dropped"), std::string::npos);
  EXPECT_LT(text.size(), kCap + 200);
  out->close();
}

TEST_F(QemuOutputTest, ChunksKeepTheirOrderAcrossDrainNowAndTheReader) {
  auto pipe = QemuOutput::make_pipe();
  auto out = QemuOutput::start(io_.get_executor(), std::move(pipe.read_end), open_log(), 1 << 20);
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    expected += line;
    ASSERT_EQ(::write(pipe.write_end.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
    if (i % 7 == 0) out->drain_now();
  }
  pipe.write_end.reset();
  out->drain_now();
  EXPECT_EQ(log(), expected);
  out->close();
}

}  // namespace
}  // namespace vmshare::vm
