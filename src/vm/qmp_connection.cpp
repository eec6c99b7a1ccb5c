#include "vm/qmp_connection.h"

#include "vm/unique_fd.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>

namespace vmshare::vm {

namespace {
// ".../vms/<vmid>/qmp.sock" -> "<vmid>": names the VM in logs without revealing server paths.
std::string log_label(const std::string& socket_path) {
  const auto slash = socket_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "monitor";
  const auto parent = socket_path.rfind('/', slash - 1);
  return socket_path.substr(parent == std::string::npos ? 0 : parent + 1, slash - (parent == std::string::npos ? 0 : parent + 1));
}
}  // namespace

namespace asio = boost::asio;
using nlohmann::json;
using Kind = QmpStatus::Kind;
using std::chrono::milliseconds;

namespace {

QmpStatus make_status(Kind kind, std::string desc, std::string cls = {}) {
  QmpStatus s;
  s.kind = kind;
  s.desc = std::move(desc);
  s.error_class = std::move(cls);
  return s;
}

}  // namespace

class QmpConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(const asio::any_io_executor& ex, QmpOptions opt)
      : strand_(asio::make_strand(ex)), sock_(strand_), timer_(strand_), opt_(opt) {}

  // Everything below runs on strand_.
  struct Pending {
    std::string command;
    std::string line;
    std::uint64_t id = 0;
    milliseconds timeout{0};
    ExecuteHandler handler;
    std::shared_ptr<UniqueFd> fd;  // sent with the command's first byte, then dropped
  };

  enum class State { idle, connecting, greeting, negotiating, ready, failed };

  asio::strand<asio::any_io_executor> strand_;
  asio::local::stream_protocol::socket sock_;
  asio::steady_timer timer_;
  QmpOptions opt_;
  State state_ = State::idle;
  std::string rbuf_;
  std::deque<Pending> queue_;
  std::optional<Pending> inflight_;
  std::uint64_t next_id_ = 1;
  std::uint64_t timer_gen_ = 0;
  QmpStatus sticky_;
  ConnectHandler connect_handler_;
  EventHandler on_event_;
  CloseHandler on_close_;
  std::string path_;
  std::string label_;  // for logs: the VM's folder name, never a server path

  mutable std::mutex greeting_mu_;
  json greeting_;
  Peer peer_;  // guarded by greeting_mu_

  void connect(std::string path, ConnectHandler h) {
    if (state_ != State::idle) {
      auto st = state_ == State::failed ? sticky_
                                        : make_status(Kind::protocol_error, "QMP already connected");
      return h(st);
    }
    path_ = std::move(path);
    label_ = log_label(path_);
    connect_handler_ = std::move(h);
    state_ = State::connecting;
    arm_timer(opt_.connect_timeout, "the VM monitor did not answer in time");
    sock_.async_connect(asio::local::stream_protocol::endpoint(path_),
                        [self = shared_from_this()](const boost::system::error_code& ec) {
                          self->on_connected(ec);
                        });
  }

  void on_connected(const boost::system::error_code& ec) {
    if (state_ == State::failed) return;
    if (ec) {
      // debug: a launch retries while QEMU is still starting; the caller logs what finally failed.
      spdlog::debug("QMP connect {}: {}", label_, ec.message());
      return fail(make_status(Kind::disconnected, "cannot reach the VM monitor"));
    }
    state_ = State::greeting;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(sock_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      std::lock_guard lk(greeting_mu_);
      peer_ = Peer{static_cast<long>(cred.pid), static_cast<unsigned>(cred.uid)};
    }
    read_next();
  }

  void read_next() {
    asio::async_read_until(sock_, asio::dynamic_buffer(rbuf_, opt_.max_line), '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (state_ == State::failed) return;
    if (ec == asio::error::not_found) {
      spdlog::warn("QMP {}: message longer than {} bytes", label_, opt_.max_line);
      return fail(make_status(Kind::protocol_error, "the VM monitor sent an oversized message"));
    }
    if (ec) {
      spdlog::info("QMP {}: connection ended: {}", label_, ec.message());
      return fail(make_status(Kind::disconnected, "the VM monitor connection closed"));
    }
    std::string line = rbuf_.substr(0, n - 1);
    rbuf_.erase(0, n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) handle_line(line);
    if (state_ != State::failed) read_next();
  }

  void handle_line(const std::string& line) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      spdlog::warn("QMP {}: malformed message: {}", label_, line.substr(0, 500));
      return fail(make_status(Kind::protocol_error, "the VM monitor sent a malformed message"));
    }
    if (state_ == State::greeting) {
      if (!j.contains("QMP")) {
        spdlog::warn("QMP {}: expected greeting, got {}", label_, line.substr(0, 500));
        return fail(make_status(Kind::protocol_error, "the VM monitor did not greet"));
      }
      {
        std::lock_guard lk(greeting_mu_);
        greeting_ = j["QMP"];
      }
      state_ = State::negotiating;
      // Negotiation runs under the connect timer, outside the user queue.
      Pending caps;
      caps.command = "qmp_capabilities";
      caps.id = next_id_++;
      caps.line = json{{"execute", caps.command}, {"id", caps.id}}.dump() + "\n";
      inflight_ = std::move(caps);
      return write_inflight();
    }
    if (auto ev = j.find("event"); ev != j.end()) {
      std::string name = ev->is_string() ? ev->get<std::string>() : std::string{};
      json data = j.contains("data") ? j["data"] : json::object();
      spdlog::debug("QMP {}: event {} {}", label_, name, data.dump());
      if (on_event_) {
        try {
          on_event_(name, data);
        } catch (const std::exception& e) {
          spdlog::error("QMP event handler threw: {}", e.what());
        }
      }
      return;
    }
    if (j.contains("return") || j.contains("error")) return handle_reply(j, line);
    spdlog::debug("QMP {}: ignoring message {}", label_, line.substr(0, 500));
  }

  void handle_reply(const json& j, const std::string& line) {
    if (!inflight_) {
      spdlog::warn("QMP {}: reply without a command: {}", label_, line.substr(0, 500));
      return fail(make_status(Kind::protocol_error, "the VM monitor sent an unexpected reply"));
    }
    if (auto id = j.find("id"); id != j.end() && !(id->is_number_unsigned() && *id == inflight_->id)) {
      spdlog::warn("QMP {}: reply id {} for command id {}", label_, id->dump(), inflight_->id);
      return fail(make_status(Kind::protocol_error, "the VM monitor answered out of order"));
    }
    ++timer_gen_;  // disarm
    timer_.cancel();
    Pending done = std::move(*inflight_);
    inflight_.reset();

    QmpStatus st;
    json ret = json::object();
    if (auto err = j.find("error"); err != j.end()) {
      // json::value() throws on a non-object or a non-string member, and a throw here would
      // escape the I/O loop and end the server: read the fields defensively.
      auto field = [&](const char* name, const char* fallback) {
        if (!err->is_object()) return std::string(fallback);
        auto it = err->find(name);
        return it != err->end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
      };
      std::string cls = field("class", "GenericError");
      std::string desc = field("desc", "the VM monitor refused the command");
      spdlog::warn("QMP {}: {} failed: {}", label_, done.command, line);
      st = make_status(Kind::command_error, desc, cls);
    } else {
      ret = j["return"];
    }

    if (state_ == State::negotiating) {  // the qmp_capabilities reply
      if (!st.ok()) return fail(make_status(Kind::protocol_error, "the VM monitor refused to start"));
      state_ = State::ready;
      auto h = std::move(connect_handler_);
      connect_handler_ = nullptr;
      if (h) h(QmpStatus{});
      return pump();
    }
    if (done.handler) done.handler(st, ret);
    pump();
  }

  void execute(std::string command, json args, ExecuteHandler h, std::optional<milliseconds> timeout,
               std::shared_ptr<UniqueFd> fd) {
    if (state_ == State::failed) {
      if (h) h(sticky_, json());
      return;
    }
    Pending p;
    p.command = command;
    p.id = next_id_++;
    json msg{{"execute", command}, {"id", p.id}};
    if (!args.is_null() && !(args.is_object() && args.empty())) msg["arguments"] = std::move(args);
    p.line = msg.dump() + "\n";
    p.timeout = timeout.value_or(opt_.command_timeout);
    p.handler = std::move(h);
    p.fd = std::move(fd);
    queue_.push_back(std::move(p));
    pump();
  }

  void pump() {
    if (state_ != State::ready || inflight_ || queue_.empty()) return;
    inflight_ = std::move(queue_.front());
    queue_.pop_front();
    arm_timer(inflight_->timeout,
              fmt::format("the VM monitor did not answer {} in time", inflight_->command));
    write_inflight();
  }

  void write_inflight() {
    if (inflight_->fd) return write_with_fd();
    write_rest(0);
  }

  // sendmsg with SCM_RIGHTS once the socket is writable; what the kernel did not take goes on
  // as plain bytes (the descriptor is attached to the first one, which QEMU reads first).
  void write_with_fd() {
    sock_.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->state_ == State::failed || !self->inflight_) return;
      if (ec) return self->fail(make_status(Kind::disconnected, "the VM monitor connection closed"));
      const std::string& line = self->inflight_->line;
      iovec iov{const_cast<char*>(line.data()), line.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      const int fd = self->inflight_->fd->get();
      std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
      ssize_t n = ::sendmsg(self->sock_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return self->write_with_fd();
      if (n < 0) {
        spdlog::info("QMP {}: sending a descriptor failed: {}", self->label_, std::strerror(errno));
        return self->fail(make_status(Kind::disconnected, "the VM monitor connection closed"));
      }
      self->inflight_->fd.reset();  // QEMU holds its own copy now
      if (static_cast<std::size_t>(n) < line.size()) self->write_rest(static_cast<std::size_t>(n));
    });
  }

  void write_rest(std::size_t offset) {
    // inflight_ stays put until its reply arrives, so the buffer outlives the write.
    asio::async_write(sock_, asio::buffer(inflight_->line.data() + offset, inflight_->line.size() - offset),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec && self->state_ != State::failed) {
                          spdlog::info("QMP {}: write failed: {}", self->label_, ec.message());
                          self->fail(make_status(Kind::disconnected, "the VM monitor connection closed"));
                        }
                      });
  }

  void arm_timer(milliseconds t, std::string desc) {
    auto gen = ++timer_gen_;
    timer_.expires_after(t);
    timer_.async_wait([self = shared_from_this(), gen, desc = std::move(desc)](
                          const boost::system::error_code& ec) {
      if (ec || gen != self->timer_gen_ || self->state_ == State::failed) return;
      spdlog::warn("QMP {}: {}", self->label_, desc);
      self->fail(make_status(Kind::timeout, desc));
    });
  }

  void fail(QmpStatus st) {
    if (state_ == State::failed) return;
    state_ = State::failed;
    sticky_ = st;
    ++timer_gen_;
    timer_.cancel();
    boost::system::error_code ignored;
    sock_.shutdown(asio::socket_base::shutdown_both, ignored);
    sock_.close(ignored);

    // Collect first: handlers may call back into us (their calls are posted, never nested).
    auto connect_h = std::move(connect_handler_);
    connect_handler_ = nullptr;
    std::vector<ExecuteHandler> hs;
    if (inflight_ && inflight_->handler) hs.push_back(std::move(inflight_->handler));
    inflight_.reset();
    for (auto& p : queue_)
      if (p.handler) hs.push_back(std::move(p.handler));
    queue_.clear();

    if (connect_h) connect_h(st);
    for (auto& h : hs) h(st, json());
    if (on_close_) {
      auto c = std::move(on_close_);
      on_close_ = nullptr;
      c(st);
    }
  }
};

QmpConnection::QmpConnection(const asio::any_io_executor& executor, QmpOptions options)
    : impl_(std::make_shared<Impl>(executor, options)) {}

QmpConnection::~QmpConnection() { close(); }

void QmpConnection::on_event(EventHandler handler) {
  asio::post(impl_->strand_, [impl = impl_, h = std::move(handler)]() mutable {
    impl->on_event_ = std::move(h);
  });
}

void QmpConnection::on_close(CloseHandler handler) {
  asio::post(impl_->strand_, [impl = impl_, h = std::move(handler)]() mutable {
    impl->on_close_ = std::move(h);
  });
}

void QmpConnection::async_connect(const std::string& socket_path, ConnectHandler handler) {
  asio::post(impl_->strand_, [impl = impl_, p = socket_path, h = std::move(handler)]() mutable {
    impl->connect(std::move(p), std::move(h));
  });
}

void QmpConnection::async_execute(const std::string& command, json args, ExecuteHandler handler,
                                  std::optional<milliseconds> timeout, int pass_fd) {
  std::shared_ptr<UniqueFd> fd;
  if (pass_fd >= 0) {
    fd = std::make_shared<UniqueFd>(::fcntl(pass_fd, F_DUPFD_CLOEXEC, 3));
    if (!fd->valid()) throw QmpError(make_status(Kind::protocol_error, "cannot pass a descriptor to the VM monitor"));
  }
  // Always posted, never run inline, so a handler may queue the next command safely.
  asio::post(impl_->strand_, [impl = impl_, c = command, a = std::move(args), h = std::move(handler),
                              timeout, fd = std::move(fd)]() mutable {
    impl->execute(std::move(c), std::move(a), std::move(h), timeout, std::move(fd));
  });
}

QmpConnection::Peer QmpConnection::peer() const {
  std::lock_guard lk(impl_->greeting_mu_);
  return impl_->peer_;
}

namespace {
// The safety margin a blocking caller waits beyond the connection's own timer.
constexpr milliseconds kSyncSlack{5000};
}  // namespace

void QmpConnection::connect_sync(const std::string& socket_path) {
  if (impl_->strand_.running_in_this_thread())
    throw std::logic_error("QmpConnection::connect_sync called on its own strand");
  auto prom = std::make_shared<std::promise<QmpStatus>>();
  auto fut = prom->get_future();
  async_connect(socket_path, [prom](const QmpStatus& st) { prom->set_value(st); });
  if (fut.wait_for(impl_->opt_.connect_timeout + kSyncSlack) != std::future_status::ready)
    throw QmpError(make_status(Kind::timeout, "the VM monitor did not answer in time"));
  auto st = fut.get();
  if (!st.ok()) throw QmpError(st);
}

json QmpConnection::execute_sync(const std::string& command, const json& args,
                                 std::optional<milliseconds> timeout, int pass_fd) {
  if (impl_->strand_.running_in_this_thread())
    throw std::logic_error("QmpConnection::execute_sync called on its own strand");
  auto prom = std::make_shared<std::promise<std::pair<QmpStatus, json>>>();
  auto fut = prom->get_future();
  async_execute(
      command, args,
      [prom](const QmpStatus& st, const json& ret) { prom->set_value({st, ret}); }, timeout, pass_fd);
  // The command may wait in the queue behind others, so this is a backstop, not the timeout.
  auto wait = (timeout.value_or(impl_->opt_.command_timeout) + kSyncSlack) * 4;
  if (fut.wait_for(wait) != std::future_status::ready)
    throw QmpError(make_status(Kind::timeout,
                               fmt::format("the VM monitor did not answer {} in time", command)));
  auto [st, ret] = fut.get();
  if (!st.ok()) throw QmpError(st);
  return ret;
}

void QmpConnection::close() {
  asio::post(impl_->strand_, [impl = impl_] {
    impl->fail(make_status(Kind::closed, "the VM monitor connection was closed"));
  });
}

json QmpConnection::greeting() const {
  std::lock_guard lk(impl_->greeting_mu_);
  return impl_->greeting_;
}

}  // namespace vmshare::vm
