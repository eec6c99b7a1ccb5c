#pragma once
// Internal: what the listener and the connections share.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http/server.h"

namespace vmshare::http {

class HttpSession;

struct Server::State {
  ServerOptions options;
  Router& router;
  boost::asio::io_context io;
  boost::asio::thread_pool workers;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::signal_set signals;
  boost::asio::steady_timer shutdown_timer;
  std::atomic<bool> stopping{false};
  // Streaming bodies (uploads) being read; each holds a worker, so at most half of them may.
  std::atomic<int> streaming{0};

  std::mutex mutex;  // guards the two below
  std::set<std::weak_ptr<HttpSession>, std::owner_less<std::weak_ptr<HttpSession>>> sessions;
  std::vector<std::function<void()>> shutdown_hooks;
  std::function<void(const RequestRecord&)> observer;

  State(ServerOptions opts, Router& r)
      : options(std::move(opts)),
        router(r),
        io(options.io_threads),
        workers(static_cast<std::size_t>(options.worker_threads)),
        acceptor(io),
        signals(io, SIGINT, SIGTERM),
        shutdown_timer(io) {}
};

}  // namespace vmshare::http
