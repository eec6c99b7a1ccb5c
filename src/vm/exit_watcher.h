#pragma once
// Asynchronous "tell me when this process ends" on an Asio executor, through its pidfd
// (readable once the process exits). Works for our children and for processes adopted after a
// daemon restart; children are reaped here, so no zombie is left behind.
#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>
#include <functional>
#include <memory>

#include "vm/process.h"

namespace vmshare::vm {

class ExitWatcher {
 public:
  // `ec` is boost::asio::error::operation_aborted after cancel() or destruction; the status is
  // then meaningless.
  using Handler = std::function<void(const boost::system::error_code& ec, const ExitStatus& status)>;

  // Takes over `process` (the watcher reaps it). Use process() to signal it meanwhile.
  ExitWatcher(const boost::asio::any_io_executor& executor, Process process);
  ~ExitWatcher();
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  // One wait at a time. The handler runs on the executor, exactly once.
  void async_wait(Handler handler);
  // Stops waiting (the handler gets operation_aborted). The process keeps running.
  void cancel();

  // For signal() (safe from any thread). Do not call try_wait()/wait_for() on it while a
  // wait is pending: the watcher reaps on the executor's thread.
  Process& process();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace vmshare::vm
