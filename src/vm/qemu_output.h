#pragma once
// QEMU's stdout and stderr reach vmshare through a pipe, never as a file QEMU holds: a guest that
// took over its QEMU could otherwise grow qemu.log until the host's disk is full.
//
// Invariants:
// - At most `cap` bytes of QEMU's output reach the log file, plus one line saying the rest was
//   dropped. Past the cap the pipe is still read (and the bytes dropped), so QEMU never blocks
//   on a full pipe.
// - Chunks reach the file in the order QEMU wrote them: every read of the pipe and the write of
//   its bytes happen under one lock, whether from the wait loop or from drain_now().
// - Runs on `executor` until end of file (every copy of the write end closed: QEMU exited) or
//   close(). After a vmshare restart nobody reads the pipe: QEMU ignores SIGPIPE and its writes
//   fail, which loses only log lines.
#include <cstddef>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "vm/unique_fd.h"

namespace vmshare::vm {

class QemuOutput : public std::enable_shared_from_this<QemuOutput> {
 public:
  static constexpr std::size_t kDefaultCapBytes = 1 << 20;

  struct Pipe {
    UniqueFd read_end;   // vmshare's, non-blocking
    UniqueFd write_end;  // QEMU's stdout and stderr
  };
  static Pipe make_pipe();  // both ends close-on-exec; the spawn dup2()s the write end

  static std::shared_ptr<QemuOutput> start(const boost::asio::any_io_executor& executor, UniqueFd read_end,
                                           UniqueFd log_file, std::size_t cap = kDefaultCapBytes);

  // Copies what is in the pipe now, from any thread: the caller reads the log file next.
  void drain_now();
  // From any thread; stops reading (QEMU's later writes fail once the pipe is full or closed).
  void close();

  QemuOutput(const boost::asio::any_io_executor& executor, UniqueFd read_end, UniqueFd log_file, std::size_t cap);

 private:
  void wait();
  bool copy_available();  // under mutex_; false at end of file or on an error
  void append(const char* data, std::size_t size);

  std::mutex mutex_;
  boost::asio::posix::stream_descriptor pipe_;
  UniqueFd log_;
  std::size_t cap_;
  std::size_t written_ = 0;
  bool dropped_ = false;
  bool closed_ = false;
};

}  // namespace vmshare::vm
