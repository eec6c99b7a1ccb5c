#include "vm/exit_watcher.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>

namespace vmshare::vm {

struct ExitWatcher::Impl {
  Process process;
  boost::asio::posix::stream_descriptor sd;
  Impl(const boost::asio::any_io_executor& ex, Process p) : process(std::move(p)), sd(ex) {
    // The descriptor closes what it owns; give it a duplicate so the Process keeps its pidfd.
    int fd = ::dup(process.pidfd());
    if (fd < 0) throw ProcessError(fmt::format("dup pidfd: {}", std::strerror(errno)));
    sd.assign(fd);
  }
};

ExitWatcher::ExitWatcher(const boost::asio::any_io_executor& executor, Process process)
    : impl_(std::make_shared<Impl>(executor, std::move(process))) {}

ExitWatcher::~ExitWatcher() {
  boost::system::error_code ignored;
  impl_->sd.close(ignored);  // a pending handler runs with operation_aborted, holding impl_
}

void ExitWatcher::async_wait(Handler handler) {
  auto keep = impl_;  // the Impl must outlive the pending operation
  impl_->sd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [keep, handler = std::move(handler)](const boost::system::error_code& ec) {
                         if (ec) return handler(ec, ExitStatus{});
                         ExitStatus st;
                         try {
                           if (auto s = keep->process.try_wait()) st = *s;
                         } catch (const std::exception&) {
                         }
                         handler(ec, st);
                       });
}

void ExitWatcher::cancel() {
  boost::system::error_code ignored;
  impl_->sd.cancel(ignored);
}

Process& ExitWatcher::process() { return impl_->process; }

}  // namespace vmshare::vm
