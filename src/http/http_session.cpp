#include "http/http_session.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <array>
#include <chrono>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "core/thread_sched.h"
#include "http/client_address.h"
#include "http/common_headers.h"
#include "http/file_range_body.h"
#include "http/response_stream_writer.h"
#include "http/url.h"

namespace vmshare::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr auto kUnlimited = std::numeric_limits<std::uint64_t>::max();
// Lingering close (nginx's lingering_time/lingering_timeout): how long a connection answered
// before its body was read keeps reading and dropping what still comes, in all and between reads.
// Long enough for the client to read the answer, short so a trickling client is soon cut.
constexpr auto kLingerTotal = std::chrono::seconds(2);
constexpr auto kLingerIdle = std::chrono::seconds(1);
}  // namespace

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<Server::State> state)
      : stream_(std::move(socket)), state_(std::move(state)) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = endpoint.address().to_string();
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  void close_when_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (self->idle_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      }
    });
  }

 private:
  void read_header() {
    if (closing_ || state_->stopping) return close();
    idle_ = true;
    header_parser_.emplace();
    header_parser_->header_limit(static_cast<std::uint32_t>(state_->options.max_header_bytes));
    header_parser_->body_limit(kUnlimited);  // checked per route once we know the route
    stream_.expires_after(state_->options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *header_parser_,
                             beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    idle_ = false;
    started_ = std::chrono::steady_clock::now();
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::eof || ec == net::error::connection_reset) {
      return close();
    }
    if (ec == bhttp::error::header_limit) return reject(431, "Request header fields too large");
    if (ec) return reject(400, "Malformed HTTP request");

    auto& header = header_parser_->get();
    request_ = Request{};
    request_.method = std::string(header.method_string());
    request_.target = std::string(header.target());
    for (const auto& field : header) request_.headers[std::string(field.name_string())] = std::string(field.value());
    set_client_address(header);
    keep_alive_ = header.keep_alive();

    auto decoded = decode_target(header.target());
    if (!decoded) return reject(400, "Malformed request path");
    request_.path = std::move(decoded->path);
    request_.query = std::move(decoded->query);
    if (header.has_content_length()) request_.content_length = header_parser_->content_length().value_or(0);

    if (state_->options.admit)
      if (auto refusal = state_->options.admit(request_)) return reject(refusal->first, refusal->second);
    match_ = state_->router.match(request_.method, request_.path);
    const Route* route = match_.route;
    if (route) {
      request_.route = route->pattern;
      request_.params = match_.params;
    }

    if (beast::websocket::is_upgrade(header)) {
      if (!route || !route->websocket) return reject(404, "Not Found");
      return start_websocket(*route);
    }
    if (route && route->body_mode == BodyMode::streaming) return run_streaming(*route);

    std::uint64_t limit = state_->options.max_body_bytes;
    if (route && route->max_body_bytes) limit = route->max_body_bytes;
    if (request_.content_length && *request_.content_length > limit)
      return reject(413, "Request body too large");
    body_parser_.emplace(std::move(*header_parser_));
    body_parser_->body_limit(limit);
    if (body_parser_->is_done()) return on_body({}, 0);
    bhttp::async_read(stream_, buffer_, *body_parser_,
                      beast::bind_front_handler(&HttpSession::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) return reject(413, "Request body too large");
    if (ec == beast::error::timeout || ec == net::error::eof || ec == bhttp::error::end_of_stream ||
        ec == net::error::connection_reset || ec == bhttp::error::partial_message)
      return close();
    if (ec) return reject(400, "Malformed HTTP request body");
    request_.body = std::move(body_parser_->get().body());
    body_parser_.reset();
    stream_.expires_never();
    dispatch_to_worker();
  }

  // Repeated X-Forwarded-For lines form one list (the header map keeps only the last line).
  void set_client_address(const bhttp::request_header<>& header) {
    std::string forwarded_for, real_ip;
    for (auto [it, end] = header.equal_range("X-Forwarded-For"); it != end; ++it)
      forwarded_for += (forwarded_for.empty() ? "" : ", ") + std::string(it->value());
    if (auto it = header.find("X-Real-IP"); it != header.end()) real_ip = std::string(it->value());
    const auto client = client_address(peer_, forwarded_for, real_ip, state_->options.trusted_proxies);
    request_.peer_address = peer_;
    request_.remote_address = client.address;
    request_.remote_is_loopback = client.loopback;
  }

  // Runs the matched handler (or the fallback, 404 or 405) on a worker thread.
  // A handler may instead stream its response through request_.response_stream; then the
  // writer finishes the exchange on the strand. Or it may suspend (Request::suspend): then the
  // worker is free at once and the continuation it resumes with runs as a step of its own.
  void dispatch_to_worker() {
    net::post(state_->workers, [self = shared_from_this()] { self->run_step(nullptr); });
  }

  // What a suspended step and its Resume share: the continuation may arrive before the
  // handler has returned, and must then wait for it.
  struct Suspension {
    std::mutex mutex;
    bool returned = false;
    std::function<Response()> next;
  };

  // One step on a worker: the handler, or (continuation set) what a suspended handler resumed with.
  void run_step(std::function<Response()> continuation) {
    auto self = shared_from_this();
    auto streamed = std::make_shared<ResponseStreamWriter>(
        stream_, ResponseStreamWriter::Options{keep_alive_ && !state_->stopping, request_.method == "HEAD",
                                               state_->options.read_timeout});
    std::shared_ptr<Suspension> suspension;
    request_.response_stream = streamed.get();
    request_.suspend = [self, &suspension]() -> Request::Resume {
      suspension = std::make_shared<Suspension>();
      return [self, s = suspension](std::function<Response()> next) { self->resume(s, std::move(next)); };
    };
    continuation_ = std::move(continuation);
    Response response = invoke_handler();
    continuation_ = nullptr;
    request_.suspend = nullptr;
    request_.response_stream = nullptr;
    if (suspension) return handler_returned(*suspension);
    if (streamed->begun()) {
      return streamed->finish([self](beast::error_code ec, int status, bool keep_alive) {
        self->keep_alive_ = keep_alive;
        self->after_write(ec, status);
      });
    }
    net::post(stream_.get_executor(), [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
  }

  void resume(const std::shared_ptr<Suspension>& s, std::function<Response()> next) {
    {
      std::lock_guard lock(s->mutex);
      if (!s->returned) {
        s->next = std::move(next);
        return;
      }
    }
    net::post(state_->workers, [self = shared_from_this(), next = std::move(next)]() mutable { self->run_step(std::move(next)); });
  }

  void handler_returned(Suspension& s) {
    std::function<Response()> next;
    {
      std::lock_guard lock(s.mutex);
      s.returned = true;
      next = std::move(s.next);
    }
    if (next) run_step(std::move(next));  // resumed already: go on here, the worker is ours
  }

  Response invoke_handler() {
    ensure_request_slice();  // a worker thread: short scheduler slice (core/thread_sched.h)
    try {
      if (continuation_) return continuation_();
      if (match_.route) return match_.route->handler(request_);
      if (match_.method_mismatch) {
        auto r = error_response(405, "Method Not Allowed");
        r.header("Allow", match_.allowed_methods);
        return r;
      }
      if ((request_.method == "GET" || request_.method == "HEAD") && state_->router.fallback()) {
        request_.route = "static";
        return (*state_->router.fallback())(request_);
      }
      return error_response(404, "Not Found");
    } catch (...) {
      return map_error(std::current_exception());
    }
  }

  // The one place errors become responses, WebSocket refusals included.
  Response map_error(std::exception_ptr error) {
    const auto& mapper = state_->options.map_error;
    try {
      return mapper ? mapper(error, request_) : default_error_response(error, request_);
    } catch (...) {  // a mapper must not throw; if it does, the client still gets an answer
      return default_error_response(std::current_exception(), request_);
    }
  }

  // Streaming bodies are pulled by the handler on its worker thread with blocking reads; the
  // connection's strand is idle meanwhile, so nothing else touches the socket.
  //
  // Each body holds a worker, so a trickling client must not keep it: the body has to bring
  // kProgressBytes within every read timeout (a deadline that moves on with each such step).
  // The socket is non-blocking meanwhile and the wait is a poll() with that deadline:
  // SO_RCVTIMEO cannot bound Asio's synchronous reads, which then poll without a timeout.
  static constexpr std::uint64_t kProgressBytes = 64 * 1024;
  static constexpr std::size_t kBodyReadBytes = 64 * 1024;

  void run_streaming(const Route& route) {
    // Half the workers stay free for everything else, whatever slow uploaders do.
    const int slots = std::max(1, state_->options.worker_threads / 2);
    if (++state_->streaming > slots) {
      --state_->streaming;
      auto r = error_response(503, "Too many uploads in progress, please retry shortly");
      r.header("Retry-After", "5");
      r.close_connection = true;
      body_unread_ = true;
      return write(std::move(r));
    }
    stream_.expires_never();
    net::post(state_->workers, [self = shared_from_this(), &route] {
      struct Slot {
        std::atomic<int>& n;
        ~Slot() { --n; }
      } slot{self->state_->streaming};
      auto parser = std::make_shared<bhttp::request_parser<bhttp::buffer_body>>(std::move(*self->header_parser_));
      parser->body_limit(route.max_body_bytes ? route.max_body_bytes : self->state_->options.max_body_bytes);
      // Beast reads as much as the buffer's spare capacity (at least 512 bytes): without room,
      // a body would come in 512-byte reads, one system call each.
      self->buffer_.reserve(kBodyReadBytes);
      const auto timeout = self->state_->options.read_timeout;
      struct Progress {
        std::chrono::steady_clock::time_point deadline;
        std::uint64_t since_mark = 0;
      };
      // From the request's start, not from when a worker became free.
      auto progress = std::make_shared<Progress>(Progress{self->started_ + timeout});
      // Non-blocking reads: a read with nothing to take returns at once, and we wait in poll().
      beast::error_code ignored;
      self->stream_.socket().non_blocking(true, ignored);
      // A client that sent "Expect: 100-continue" (curl does above 1 KiB) waits for our word
      // before sending the body: given when the handler first reads it, so a request refused
      // before that (sign-in, quota, a full stick) never sends its body at all.
      // (HTTP/1.0 clients' expectations are ignored, RFC 9110 section 10.1.1.)
      auto continue_due = std::make_shared<bool>(parser->get().version() >= 11 && expects_continue(self->request_));
      self->request_.read_body = [self, parser, progress, timeout, continue_due](char* out, std::size_t n) -> std::size_t {
        if (parser->is_done() || n == 0) return 0;
        if (*continue_due) {
          *continue_due = false;
          self->send_continue();
        }
        parser->get().body().data = out;
        parser->get().body().size = n;
        parser->get().body().more = true;
        beast::error_code ec;
        while (true) {
          bhttp::read_some(self->stream_.socket(), self->buffer_, *parser, ec);
          const bool again = ec == net::error::would_block;
          if (again || ec == bhttp::error::need_buffer) ec = {};
          if (ec == bhttp::error::body_limit) throw BodyTooLarge();
          if (ec) throw BodyReadError("upload interrupted: " + ec.message());
          const std::size_t got = n - parser->get().body().size;
          progress->since_mark += got;
          if (progress->since_mark >= kProgressBytes) {
            progress->since_mark = 0;
            progress->deadline = std::chrono::steady_clock::now() + timeout;
          }
          if (parser->is_done()) return got;
          if (std::chrono::steady_clock::now() > progress->deadline)
            throw BodyReadError("upload too slow: timed out");
          if (got > 0) return got;
          if (again) self->wait_readable(progress->deadline);
        }
      };
      Response response = self->invoke_handler();
      if (!parser->is_done()) response.close_connection = self->body_unread_ = true;  // cannot reuse
      self->request_.read_body = nullptr;
      self->stream_.socket().non_blocking(false, ignored);
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
    });
  }

  static bool expects_continue(const Request& request) {
    const std::string* expect = request.header("Expect");
    return expect && beast::iequals(*expect, "100-continue");
  }

  // The interim answer, written at once on the (non-blocking) socket: 25 bytes always fit an
  // empty send buffer, and if they did not the client sends its body anyway after its own wait.
  void send_continue() {
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const ssize_t n = ::send(stream_.socket().native_handle(), kContinue, sizeof kContinue - 1, MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(sizeof kContinue - 1)) spdlog::debug("http: 100 Continue not sent whole");
  }

  // Blocks until the socket has bytes (or EOF/error) or throws once the deadline passes.
  void wait_readable(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw BodyReadError("upload too slow: timed out");
      pollfd pfd{stream_.socket().native_handle(), POLLIN, 0};
      const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      if (rc > 0) return;
      if (rc < 0 && errno != EINTR) throw BodyReadError("upload interrupted: poll failed");
    }
  }

  void start_websocket(const Route& route) {
    stream_.expires_never();
    net::post(state_->workers, [self = shared_from_this(), &route] {
      WebSocketDecision decision;
      try {
        decision = route.websocket(self->request_);
      } catch (...) {
        decision.refuse = self->map_error(std::current_exception());
      }
      net::post(self->stream_.get_executor(), [self, decision = std::move(decision)]() mutable {
        self->accept_websocket(std::move(decision));
      });
    });
  }

  void accept_websocket(WebSocketDecision decision) {
    if (decision.refuse || !decision.on_open) {
      auto r = decision.refuse.value_or(error_response(403, "Forbidden"));
      r.close_connection = true;
      return write(std::move(r));
    }
    if (decision.before_accept) {
      auto prepare = std::move(decision.before_accept);
      decision.before_accept = nullptr;
      return prepare(stream_.get_executor(), [self = shared_from_this(), decision](std::optional<Response> refuse,
                                                                                  std::string subprotocol) mutable {
        net::dispatch(self->stream_.get_executor(), [self, decision = std::move(decision), refuse = std::move(refuse),
                                                     subprotocol = std::move(subprotocol)]() mutable {
          if (refuse) decision.refuse = std::move(refuse);
          if (!subprotocol.empty()) decision.subprotocol = std::move(subprotocol);
          self->accept_websocket(std::move(decision));
        });
      });
    }
    log_request(101);
    auto upgrade = std::make_shared<bhttp::request<bhttp::empty_body>>(header_parser_->release());
    auto ws = std::make_shared<WebSocketStream>(std::move(stream_));
    beast::websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(30);
    timeouts.idle_timeout = std::chrono::seconds(60);  // pings at half of it keep proxies awake
    timeouts.keep_alive_pings = true;
    ws->set_option(timeouts);
    ws->set_option(beast::websocket::stream_base::decorator(
        [protocol = decision.subprotocol](beast::websocket::response_type& res) {
          res.set(bhttp::field::server, "vmshare");
          if (!protocol.empty()) res.set(bhttp::field::sec_websocket_protocol, protocol);
        }));
    ws->async_accept(*upgrade, [ws, upgrade, on_open = std::move(decision.on_open)](beast::error_code ec) mutable {
      if (ec) {
        spdlog::debug("websocket handshake failed: {}", ec.message());
        return;
      }
      on_open(std::move(*ws));
    });
  }

  void reject(int status, const std::string& detail) {
    auto r = error_response(status, detail);
    r.close_connection = true;
    body_unread_ = true;  // perhaps: refused before or while reading it
    if (request_.route.empty()) request_.route = "-";
    write(std::move(r));
  }

  void write(Response response) {
    if (state_->stopping) response.close_connection = true;
    keep_alive_ = keep_alive_ && !response.close_connection;
    const int status = response.status;
    const bool head = request_.method == "HEAD";
    if (response.file) return write_file(std::move(response), head);

    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->result(static_cast<unsigned>(status));
    res->version(11);
    add_common_headers(res->base());
    res->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->insert(name, value);
    res->keep_alive(keep_alive_);
    const auto size = response.body.size();
    if (!head) res->body() = std::move(response.body);
    res->prepare_payload();
    if (head) res->content_length(size);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res, status](beast::error_code ec, std::size_t) {
      self->after_write(ec, status);
    });
  }

  void write_file(Response response, bool head) {
    const int status = response.status;
    beast::error_code ec;
    FileRangeBody::value_type body;
    body.file.open(response.file->path.c_str(), beast::file_mode::read, ec);
    if (!ec) body.file.seek(response.file->offset, ec);
    if (ec) {
      spdlog::warn("cannot open a response file: {}", ec.message());
      return write(error_response(404, "Not Found"));
    }
    body.length = head ? 0 : response.file->length;
    auto res = std::make_shared<bhttp::response<FileRangeBody>>();
    res->result(static_cast<unsigned>(status));
    res->version(11);
    add_common_headers(res->base());
    res->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->insert(name, value);
    res->keep_alive(keep_alive_);
    res->body() = std::move(body);
    res->content_length(response.file->length);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res, status](beast::error_code e, std::size_t) {
      self->after_write(e, status);
    });
  }

  void after_write(beast::error_code ec, int status) {
    log_request(status);
    if (!ec && !keep_alive_ && body_unread_ && !state_->stopping) return linger();
    if (ec || !keep_alive_) return close();
    read_header();
  }

  // Answered before the request body was read (413, 503, a refused upload): closing now would
  // make the kernel reset the connection when more of the body arrives, and the reset can
  // destroy the answer before the client reads it (it then sees EPIPE or ECONNRESET, not the
  // 413). So stop sending, drop what still comes for a while, then close. Idle meanwhile, so a
  // server stop closes it at once.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    idle_ = true;
    linger_scratch_ = std::make_unique<std::array<char, 64 * 1024>>();
    linger_read(std::chrono::steady_clock::now() + kLingerTotal);
  }

  void linger_read(std::chrono::steady_clock::time_point deadline) {
    if (closing_ || std::chrono::steady_clock::now() >= deadline) return close();
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(kLingerIdle, deadline - std::chrono::steady_clock::now()));
    stream_.async_read_some(net::buffer(*linger_scratch_), [self = shared_from_this(), deadline](beast::error_code ec, std::size_t) {
      if (ec) return self->close();  // the client closed, went quiet, or the server stops
      self->linger_read(deadline);
    });
  }

  void log_request(int status) {
    RequestRecord record{request_.method, request_.route.empty() ? "-" : request_.route, status,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count()};
    // The route template, never the raw target: it may carry tokens in its query string.
    spdlog::info("{} {} {} {:.1f}ms", record.method, record.route, record.status, record.seconds * 1000);
    std::function<void(const RequestRecord&)> observer;
    {
      std::lock_guard lock(state_->mutex);
      observer = state_->observer;
    }
    if (observer) observer(record);
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Server::State> state_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> body_parser_;
  Request request_;
  std::function<Response()> continuation_;  // the step a suspended handler resumed with
  RouteMatch match_;
  std::string peer_;
  bool keep_alive_ = true;
  bool body_unread_ = false;  // the request's body may not have been read to its end
  std::unique_ptr<std::array<char, 64 * 1024>> linger_scratch_;
  bool idle_ = true;
  bool closing_ = false;
  std::chrono::steady_clock::time_point started_;
};

std::shared_ptr<HttpSession> start_http_session(tcp::socket socket, std::shared_ptr<Server::State> state) {
  auto session = std::make_shared<HttpSession>(std::move(socket), std::move(state));
  session->run();
  return session;
}

void close_http_session_when_idle(const std::shared_ptr<HttpSession>& session) { session->close_when_idle(); }

}  // namespace vmshare::http
