#pragma once
// The HTTP/WebSocket server: an acceptor, I/O threads running connections on strands, and a pool
// of worker threads where handlers (which may block on a database or QEMU) run.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/ip_network.h"
#include "http/error_mapper.h"
#include "http/router.h"

namespace vmshare::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (see Server::port)
  int io_threads = 1;
  int worker_threads = 16;
  std::uint64_t max_header_bytes = 16 << 10;
  std::uint64_t max_body_bytes = 1 << 20;
  std::chrono::seconds read_timeout{30};
  // Peers whose forwarding headers name the client (see http/client_address.h).
  std::vector<IpNetwork> trusted_proxies;
  // Turns what any handler or WebSocket decision throws into its response; empty:
  // default_error_response.
  ErrorMapper map_error;
  // Optional gate run on the I/O thread once a request's head is read, before any route: a
  // refusal (status, detail) closes the connection; it may also annotate the request
  // (cluster/internal_gate.h: the internal listener's signature check, the public one's refusal
  // of the internal channel's headers).
  std::function<std::optional<std::pair<int, std::string>>(Request&)> admit;
};

// One finished request, for the access log and metrics.
struct RequestRecord {
  std::string method;
  std::string route;  // the route template, never the raw URL
  int status = 0;
  double seconds = 0;
};

class Server {
 public:
  Server(ServerOptions options, Router& router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void listen();  // binds; throws std::runtime_error with a readable message
  int port() const;
  // Runs the I/O threads until shutdown finishes (SIGTERM/SIGINT start it too).
  void run();
  // Stops accepting, lets in-flight requests finish, closes idle connections and the
  // registered long-lived sessions, and forces the rest after `grace`.
  void shutdown(std::chrono::seconds grace = std::chrono::seconds(10));

  void on_request(std::function<void(const RequestRecord&)> observer);
  // Called on shutdown so WebSocket sessions (consoles) can close with a reason.
  void on_shutdown(std::function<void()> hook);

  boost::asio::io_context& io();
  boost::asio::thread_pool& workers();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vmshare::http
