#pragma once
// A QMP monitor connection (the lower of libvirt's two monitor layers): UNIX-socket transport,
// newline-delimited JSON framing, greeting + qmp_capabilities negotiation, ONE command in
// flight (others wait in a FIFO queue), a per-command timeout, events, and a sticky error.
//
// Sticky error: once the socket breaks, a line is malformed or too long, or a command times
// out, the connection is dead for good: the command in flight, every queued command and every
// later one fail with that same status. (After a timeout a late reply could be mistaken for the
// next command's, so the connection is not reused.) Reconnect with a new QmpConnection.
//
// Threading: all work runs on an internal strand of the given executor. Every handler (connect,
// execute, event, close) is invoked on that strand and must not block; public methods are
// thread-safe. Handlers keep the internals alive, so dropping the QmpConnection early is safe
// (its destructor calls close()). The executor must outlive the QmpConnection.
//
// Typical use from a worker thread:
//   QmpConnection qmp(io.get_executor());
//   qmp.on_event([](const std::string& name, const nlohmann::json& data) { /* SHUTDOWN... */ });
//   qmp.connect_sync(qmp_socket_path(run_dir));
//   QmpCommands(qmp).system_powerdown();   // qmp_commands.h
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "vm/errors.h"

namespace vmshare::vm {

// Outcome of a QMP operation.
struct QmpStatus {
  enum class Kind {
    ok,
    command_error,   // QEMU answered {"error":...}; the connection stays usable
    timeout,         // sticky
    disconnected,    // sticky: connect failed, socket closed or broke
    protocol_error,  // sticky: not QMP, malformed JSON, line too long, unexpected reply
    closed,          // sticky: close() was called
  };
  Kind kind = Kind::ok;
  std::string error_class;  // QMP's "class" for command_error (e.g. "GenericError")
  std::string desc;         // user-facing: QMP's "desc", or our own short sentence

  bool ok() const { return kind == Kind::ok; }
  bool sticky() const { return kind != Kind::ok && kind != Kind::command_error; }
};

// Thrown by the blocking helpers. what() == desc: QEMU's words, which may name server paths, so for
// logs only (api/error_table maps it to a fixed sentence); the full reply went to the log.
struct QmpError : VmError {
  QmpStatus status;
  explicit QmpError(QmpStatus s) : VmError(s.desc), status(std::move(s)) {}
  const std::string& error_class() const { return status.error_class; }
  const std::string& desc() const { return status.desc; }
};

struct QmpOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  // connect + greeting + caps
  std::chrono::milliseconds command_timeout{std::chrono::seconds(30)};  // default per command
  std::size_t max_line = 4 << 20;  // one QMP message; larger is a protocol error
};

class QmpConnection {
 public:
  using ConnectHandler = std::function<void(const QmpStatus&)>;
  using ExecuteHandler = std::function<void(const QmpStatus&, const nlohmann::json& ret)>;
  using EventHandler = std::function<void(const std::string& name, const nlohmann::json& data)>;
  using CloseHandler = std::function<void(const QmpStatus&)>;

  explicit QmpConnection(const boost::asio::any_io_executor& executor, QmpOptions options = {});
  ~QmpConnection();
  QmpConnection(const QmpConnection&) = delete;
  QmpConnection& operator=(const QmpConnection&) = delete;

  // Set these before async_connect. Events (SHUTDOWN, RESET, STOP, RESUME, POWERDOWN,
  // JOB_STATUS_CHANGE, BLOCK_JOB_COMPLETED, ...) arrive with their "data" ({} when absent).
  void on_event(EventHandler handler);
  // Called once, when the connection enters its sticky error state (including after close()).
  void on_close(CloseHandler handler);

  // Connects, reads the greeting and negotiates capabilities. Commands queued before it
  // completes are sent afterwards. Call once. QEMU creates its socket a moment after it
  // starts: wait for the path to exist (while the process lives) before connecting; a missing
  // socket fails at once with Kind::disconnected and the connection cannot be retried.
  void async_connect(const std::string& socket_path, ConnectHandler handler);

  // Queues `command` with `args` (an object; {} or null for none). `ret` is QMP's "return"
  // value on success. `timeout` overrides the default, counted from when the command is sent.
  // `pass_fd` >= 0 rides with the command as SCM_RIGHTS (getfd, add-fd): a copy is taken at
  // once, so the caller keeps and closes its own.
  void async_execute(const std::string& command, nlohmann::json args, ExecuteHandler handler,
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt, int pass_fd = -1);

  // Blocking forms for worker threads. They throw QmpError on any failure. Never call them
  // on a thread that runs the executor: the reply could never be processed (a call from
  // inside a handler is detected and throws std::logic_error).
  void connect_sync(const std::string& socket_path);
  nlohmann::json execute_sync(const std::string& command,
                              const nlohmann::json& args = nlohmann::json::object(),
                              std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                              int pass_fd = -1);

  // The process at the other end, as the kernel saw it listen() (SO_PEERCRED); pid 0 before
  // connecting. A confined QEMU cannot forge it, and reading it needs no /proc.
  struct Peer {
    long pid = 0;
    unsigned uid = 0;
  };
  Peer peer() const;

  // Fails everything pending with Kind::closed and closes the socket. Idempotent.
  void close();

  // The greeting's "QMP" object (version, capabilities); null before connecting.
  // Thread-safe snapshot.
  nlohmann::json greeting() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace vmshare::vm
