#include "vm/qemu_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include <boost/asio/post.hpp>

#include "vm/errors.h"

namespace vmshare::vm {
namespace {

constexpr std::string_view kDroppedNote = "\n[vmshare: QEMU's further output dropped, the log is full]\n";

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses log lines, never the VM
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

QemuOutput::Pipe QemuOutput::make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw VmError("cannot create a pipe for QEMU's output");
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  ::fcntl(p.read_end.get(), F_SETFL, ::fcntl(p.read_end.get(), F_GETFL) | O_NONBLOCK);
  return p;
}

QemuOutput::QemuOutput(const boost::asio::any_io_executor& executor, UniqueFd read_end, UniqueFd log_file,
                       std::size_t cap)
    : pipe_(executor, read_end.release()), log_(std::move(log_file)), cap_(cap) {}

std::shared_ptr<QemuOutput> QemuOutput::start(const boost::asio::any_io_executor& executor, UniqueFd read_end,
                                              UniqueFd log_file, std::size_t cap) {
  auto self = std::make_shared<QemuOutput>(executor, std::move(read_end), std::move(log_file), cap);
  boost::asio::post(executor, [self] { self->wait(); });
  return self;
}

void QemuOutput::wait() {
  pipe_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](auto ec) {
    std::lock_guard lock(self->mutex_);
    if (ec || self->closed_) return;
    if (!self->copy_available()) {
      self->closed_ = true;
      self->pipe_.close();
      return;
    }
    boost::asio::post(self->pipe_.get_executor(), [self] { self->wait(); });
  });
}

bool QemuOutput::copy_available() {
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(pipe_.native_handle(), buf, sizeof buf);
    if (n > 0) {
      append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void QemuOutput::append(const char* data, std::size_t size) {
  const std::size_t room = cap_ - written_;
  const std::size_t kept = size < room ? size : room;
  write_all(log_.get(), data, kept);
  written_ += kept;
  if (kept < size && !dropped_) {
    dropped_ = true;
    write_all(log_.get(), kDroppedNote.data(), kDroppedNote.size());
  }
}

void QemuOutput::drain_now() {
  std::lock_guard lock(mutex_);
  if (!closed_) copy_available();
}

void QemuOutput::close() {
  boost::asio::post(pipe_.get_executor(), [self = shared_from_this()] {
    std::lock_guard lock(self->mutex_);
    if (self->closed_) return;
    self->closed_ = true;
    boost::system::error_code ignored;
    self->pipe_.close(ignored);
  });
}

}  // namespace vmshare::vm
