#include "http/server.h"

#include <thread>

#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "core/thread_sched.h"
#include "http/http_session.h"

namespace vmshare::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

void accept_next(const std::shared_ptr<Server::State>& state) {
  state->acceptor.async_accept(
      net::make_strand(state->pick_io()), [state](boost::system::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || state->stopping) return;
        if (ec) {
          // Out of file descriptors and the like: keep serving the connections we have.
          spdlog::warn("accept failed: {}", ec.message());
        } else {
          socket.set_option(tcp::no_delay(true));
          auto session = start_http_session(std::move(socket), state);
          std::lock_guard lock(state->mutex);
          for (auto it = state->sessions.begin(); it != state->sessions.end();)
            it = it->expired() ? state->sessions.erase(it) : std::next(it);
          state->sessions.insert(session);
        }
        accept_next(state);
      });
}

}  // namespace

Server::Server(ServerOptions options, Router& router)
    : state_(std::make_shared<State>(std::move(options), router)) {}

Server::~Server() {
  state_->workers.stop();
  state_->workers.join();
}

void Server::listen() {
  boost::system::error_code ec;
  auto address = net::ip::make_address(state_->options.host, ec);
  if (ec) throw std::runtime_error("VMSHARE_HOST: '" + state_->options.host + "' is not an IP address");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(state_->options.port));
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + state_->options.host + ":" +
                             std::to_string(state_->options.port) + ": " + ec.message());
}

int Server::port() const { return state_->acceptor.local_endpoint().port(); }

void Server::run() {
  state_->signals.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("signal {} received, shutting down", signal);
    shutdown();
  });
  accept_next(state_);
  // Request threads ask for a short scheduler slice, so a wake-up preempts bcrypt or another
  // process's work (core/thread_sched.h); workers ask on their first request (http_session).
  std::vector<std::thread> threads;
  for (auto& io : state_->more_io) threads.emplace_back([&io] {
    request_short_slice();
    io->run();
  });
  request_short_slice();
  state_->io.run();
  for (auto& t : threads) t.join();
}

void Server::shutdown(std::chrono::seconds grace) {
  auto state = state_;
  net::post(state->io, [state, grace] {
    if (state->stopping.exchange(true)) return;
    boost::system::error_code ec;
    state->acceptor.close(ec);
    state->signals.cancel(ec);
    std::vector<std::shared_ptr<HttpSession>> sessions;
    std::vector<std::function<void()>> hooks;
    {
      std::lock_guard lock(state->mutex);
      for (const auto& weak : state->sessions)
        if (auto s = weak.lock()) sessions.push_back(std::move(s));
      hooks = state->shutdown_hooks;
    }
    for (auto& s : sessions) close_http_session_when_idle(s);
    for (auto& hook : hooks) hook();
    // Poll until every connection has gone, or force everything when the grace runs out.
    auto deadline = std::chrono::steady_clock::now() + grace;
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [state, deadline, poll] {
      bool alive = false;
      {
        std::lock_guard lock(state->mutex);
        for (const auto& weak : state->sessions) alive = alive || !weak.expired();
      }
      if (!alive || std::chrono::steady_clock::now() >= deadline) {
        if (alive) spdlog::warn("shutdown grace elapsed, closing remaining connections");
        state->io.stop();
        for (auto& io : state->more_io) io->stop();
        *poll = nullptr;  // break the self-reference
        return;
      }
      state->shutdown_timer.expires_after(std::chrono::milliseconds(50));
      state->shutdown_timer.async_wait([poll](boost::system::error_code) {
        if (*poll) (*poll)();
      });
    };
    (*poll)();
  });
}

void Server::on_request(std::function<void(const RequestRecord&)> observer) {
  std::lock_guard lock(state_->mutex);
  state_->observer = std::move(observer);
}

void Server::on_shutdown(std::function<void()> hook) {
  std::lock_guard lock(state_->mutex);
  state_->shutdown_hooks.push_back(std::move(hook));
}

net::io_context& Server::io() { return state_->io; }
net::thread_pool& Server::workers() { return state_->workers; }

}  // namespace vmshare::http
