// The console bridge alone behind a Beast WebSocket acceptor, set up the way http_session hands
// a console over (strand per connection, same timeouts, "binary" subprotocol), so the bridge can
// be measured against websockify on the same VNC source before the full /ws/<vmid> path exists.
// Usage: bridge_only --port P --vnc /path/vnc.sock [--threads N] [--relay splice|copy]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "vm/console_bridge.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

void accept(tcp::acceptor& acceptor, const std::string& vnc_path) {
  acceptor.async_accept(net::make_strand(acceptor.get_executor()), [&acceptor, &vnc_path](beast::error_code ec, tcp::socket s) {
    if (ec) return;
    auto ws = std::make_shared<vmshare::vm::WebSocketStream>(std::move(s));
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(30);
    timeouts.idle_timeout = std::chrono::seconds(60);
    timeouts.keep_alive_pings = true;
    ws->set_option(timeouts);
    ws->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::sec_websocket_protocol, "binary"); }));
    ws->async_accept([ws, &vnc_path](beast::error_code ec) {
      if (!ec) vmshare::vm::ConsoleBridge::start(std::move(*ws), vnc_path, {});
    });
    accept(acceptor, vnc_path);
  });
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, threads = 1;
  std::string vnc_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = std::atoi(argv[i + 1]);
    else if (a == "--vnc") vnc_path = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--relay")
      vmshare::vm::ConsoleBridge::set_relay(std::string(argv[i + 1]) == "copy" ? vmshare::vm::ConsoleBridge::Relay::copy
                                                                              : vmshare::vm::ConsoleBridge::Relay::splice);
  }
  if (vnc_path.empty()) {
    std::fprintf(stderr, "usage: bridge_only --port P --vnc PATH [--threads N] [--relay splice|copy]\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  net::io_context io(threads);
  tcp::acceptor acceptor(io, {net::ip::address_v4::loopback(), static_cast<unsigned short>(port)});
  acceptor.listen(1024);
  accept(acceptor, vnc_path);
  net::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  std::printf("bridge_only listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}
