// ConsoleBridge against a real Beast WebSocket client (synchronous, on the test thread) and a
// UNIX-socket server written with plain POSIX calls on its own thread (so it shares no code with
// the bridge). The server side of the WebSocket is accepted the way http_session does it.
#include "vm/console_bridge.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "test_util.h"
#include "vm/console_stats.h"

namespace vmshare::vm {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Bytes of a deterministic pattern, so large transfers can be checked without storing them.
char pattern_at(std::size_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

std::string pattern(std::size_t offset, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern_at(offset + i);
  return s;
}

// A valid RFB client stream (the bridge parses what browsers send): the handshake, then
// `payload` as the text of ClientCutText messages of at most 1 MiB each.
std::string rfb_handshake() { return std::string("RFB 003.008\n") + '\x01' + '\x01'; }
std::string cut_text_header(std::size_t n) {
  std::string h = {'\x06', 0, 0, 0};
  for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<char>((n >> shift) & 0xff));
  return h;
}
std::string rfb_stream_of(const std::string& payload) {
  std::string out = rfb_handshake();
  for (std::size_t at = 0; at < payload.size(); at += 1u << 20) {
    const auto n = std::min<std::size_t>(1u << 20, payload.size() - at);
    out += cut_text_header(n) + payload.substr(at, n);
  }
  return out;
}

// ---- UNIX side: a listening socket and one accepted connection, driven by a script. ----
class VncServer {
 public:
  using Script = std::function<void(int fd)>;

  explicit VncServer(const std::string& path, int sndbuf = 0) : path_(path) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) std::abort();
    ::listen(listen_fd_, 8);
    sndbuf_ = sndbuf;
  }
  ~VncServer() {
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  // Accepts one connection and runs the script on it; closes the connection afterwards.
  void serve(Script script) {
    thread_ = std::thread([this, script = std::move(script)] {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      if (sndbuf_ > 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, sizeof(sndbuf_));
      connected_ = true;
      script(fd);
      ::close(fd);
    });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  bool connected() const { return connected_; }

 private:
  std::string path_;
  int listen_fd_ = -1;
  int sndbuf_ = 0;
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

bool send_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, data, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    data += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// Reads until `n` bytes or EOF; returns what arrived.
std::string recv_n(int fd, std::size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t k = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (k <= 0) break;
    out.append(buf, static_cast<std::size_t>(k));
  }
  return out;
}

// ---- WebSocket side: an acceptor that hands every accepted stream to a ConsoleBridge. ----
class BridgeServer {
 public:
  // `tune_socket` runs on each accepted TCP socket before the handshake (to shrink kernel buffers).
  explicit BridgeServer(std::string vnc_path, std::function<void(tcp::socket&)> tune_socket = {},
                        ViewerSpec spec = {}, ConsoleBridge::Timing timing = {})
      : vnc_path_(std::move(vnc_path)), tune_socket_(std::move(tune_socket)), spec_(std::move(spec)), timing_(timing) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind({net::ip::address_v4::loopback(), 0});
    acceptor_.listen();
    accept();
    // Two threads: the bridge must be correct because of its strand, not because of luck.
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~BridgeServer() {
    {
      // A held bridge keeps its WebSocket, whose close-handshake timer would keep io_ busy.
      std::lock_guard lock(mu_);
      bridge_.reset();
    }
    net::post(io_, [this] { acceptor_.close(); });
    work_.reset();
    for (auto& t : threads_) t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  std::shared_ptr<ConsoleBridge> bridge() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return bridge_ != nullptr; });
    return bridge_;
  }
  int closed_count() const { return closed_; }
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_ > 0; });
  }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      if (tune_socket_) tune_socket_(socket);
      auto ws = std::make_shared<WebSocketStream>(std::move(socket));
      // The options http_session sets.
      websocket::stream_base::timeout timeouts{};
      timeouts.handshake_timeout = 30s;
      timeouts.idle_timeout = 60s;
      timeouts.keep_alive_pings = true;
      ws->set_option(timeouts);
      ws->set_option(websocket::stream_base::decorator(
          [](websocket::response_type& res) { res.set(beast::http::field::sec_websocket_protocol, "binary"); }));
      ws->async_accept([this, ws](beast::error_code ec) {
        if (ec) return;
        auto bridge = ConsoleBridge::start(std::move(*ws), vnc_path_, spec_,
                                           {[this] {
                                              std::lock_guard lock(mu_);
                                              ++closed_;
                                              cv_.notify_all();
                                            },
                                            timing_});
        std::lock_guard lock(mu_);
        bridge_ = bridge;
        cv_.notify_all();
      });
      accept();
    });
  }

  std::string vnc_path_;
  std::function<void(tcp::socket&)> tune_socket_;
  ViewerSpec spec_;
  ConsoleBridge::Timing timing_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<ConsoleBridge> bridge_;
  std::atomic<int> closed_{0};
};

class Client {
 public:
  explicit Client(unsigned short port, int rcvbuf = 0) {
    auto& sock = beast::get_lowest_layer(ws_);
    sock.open(tcp::v4());
    if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
    sock.connect({net::ip::address_v4::loopback(), port});
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "binary"); }));
    ws_.handshake("127.0.0.1", "/ws/test");
    ws_.binary(true);
  }
  void send(const std::string& data) { ws_.write(net::buffer(data)); }
  // Reads exactly n payload bytes, across message boundaries.
  std::string read_n(std::size_t n) {
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
      beast::flat_buffer buf;
      ws_.read(buf);
      out += beast::buffers_to_string(buf.data());
    }
    return out;
  }
  // Reads until the server closes; returns the close reason (throws if data arrives first).
  std::string read_close() {
    beast::flat_buffer buf;
    beast::error_code ec;
    while (!ec) {
      ws_.read(buf, ec);
      buf.consume(buf.size());
    }
    EXPECT_EQ(ec, websocket::error::closed) << ec.message();
    return std::string(ws_.reason().reason);
  }
  // The client's half of the closing handshake; the server may have closed first.
  void close() {
    beast::error_code ec;
    ws_.close(websocket::close_code::normal, ec);
  }
  websocket::stream<tcp::socket>& ws() { return ws_; }

 private:
  net::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
};

// Every test runs with the default relay (copy); ctest runs them again with splice
// (ConsoleBridgeTest.all_with_splice sets VMSHARE_TEST_CONSOLE_RELAY).
class ConsoleBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* relay = std::getenv("VMSHARE_TEST_CONSOLE_RELAY");
    ConsoleBridge::set_relay(relay && std::string(relay) == "splice" ? ConsoleBridge::Relay::splice
                                                                      : ConsoleBridge::Relay::copy);
  }
  void TearDown() override { ConsoleBridge::set_relay(ConsoleBridge::Relay::copy); }
  test::TempDir dir_;
  std::string vnc_path_ = dir_ / "vnc.sock";
};

TEST_F(ConsoleBridgeTest, SmallMessagesFlowBothWaysUnchanged) {
  VncServer vnc(vnc_path_);
  vnc.serve([](int fd) {
    // An echo that also speaks first, as an RFB server does.
    send_all(fd, "RFB 003.008\n", 12);
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      send_all(fd, buf, static_cast<std::size_t>(n));
    }
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  EXPECT_EQ(client.read_n(12), "RFB 003.008\n");
  std::string all_bytes(256, '\0');
  for (int i = 0; i < 256; ++i) all_bytes[i] = static_cast<char>(i);
  const auto stream = rfb_stream_of(all_bytes);
  client.send(stream);
  EXPECT_EQ(client.read_n(stream.size()), stream);
  // A text frame is forwarded like a binary one.
  client.ws().text(true);
  const std::string fbur = {'\x03', '\x01', 0, 0, 0, 0, 0, 1, 0, 1};
  client.send(fbur);
  EXPECT_EQ(client.read_n(fbur.size()), fbur);
  client.close();
  ASSERT_TRUE(server.wait_closed());
}

TEST_F(ConsoleBridgeTest, TenMegabytesToTheBrowser) {
  constexpr std::size_t kTotal = 10 * 1024 * 1024;
  auto before = console_stats().bytes_to_browser.load();
  VncServer vnc(vnc_path_);
  vnc.serve([](int fd) {
    for (std::size_t off = 0; off < kTotal; off += 100000) {
      auto chunk = pattern(off, std::min<std::size_t>(100000, kTotal - off));
      if (!send_all(fd, chunk.data(), chunk.size())) return;
    }
    char c;
    ::recv(fd, &c, 1, 0);  // hold the connection until the bridge closes it
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  auto got = client.read_n(kTotal);
  ASSERT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == pattern(0, kTotal));
  EXPECT_EQ(console_stats().bytes_to_browser.load() - before, static_cast<std::int64_t>(kTotal));
  client.close();
  ASSERT_TRUE(server.wait_closed());
}

TEST_F(ConsoleBridgeTest, TenMegabytesToTheVm) {
  constexpr std::size_t kTotal = 10 * 1024 * 1024;
  auto before = console_stats().bytes_to_vm.load();
  std::atomic<bool> intact{false};
  const auto stream = rfb_stream_of(pattern(0, kTotal));
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    auto got = recv_n(fd, stream.size());
    intact = got == stream;
    send_all(fd, "k", 1);
    char c;
    ::recv(fd, &c, 1, 0);
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  for (std::size_t off = 0; off < stream.size(); off += 70000) client.send(stream.substr(off, 70000));
  EXPECT_EQ(client.read_n(1), "k");
  EXPECT_TRUE(intact);
  EXPECT_EQ(console_stats().bytes_to_vm.load() - before, static_cast<std::int64_t>(stream.size()));
  client.close();
  ASSERT_TRUE(server.wait_closed());
}

TEST_F(ConsoleBridgeTest, VmClosingClosesTheWebSocket) {
  VncServer vnc(vnc_path_);
  vnc.serve([](int fd) { send_all(fd, "bye", 3); });  // then closes
  BridgeServer server(vnc_path_);
  Client client(server.port());
  EXPECT_EQ(client.read_n(3), "bye");  // data before the EOF is delivered first
  EXPECT_EQ(client.read_close(), "console closed by the VM");
  ASSERT_TRUE(server.wait_closed());
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.closed_count(), 1);
}

TEST_F(ConsoleBridgeTest, ClientClosingClosesTheVncSocketAndFiresOnClosedOnce) {
  auto open_before = console_stats().open.load();
  std::atomic<bool> saw_eof{false};
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    send_all(fd, "x", 1);
    char buf[64];
    saw_eof = ::recv(fd, buf, sizeof(buf), 0) == 0;
  });
  BridgeServer server(vnc_path_);
  {
    Client client(server.port());
    EXPECT_EQ(client.read_n(1), "x");
    EXPECT_EQ(console_stats().open.load(), open_before + 1);
    client.close();
  }
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
  EXPECT_TRUE(saw_eof);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.closed_count(), 1);
  EXPECT_EQ(console_stats().open.load(), open_before);
}

TEST_F(ConsoleBridgeTest, CloseDeliversTheReasonAndIsIdempotent) {
  VncServer vnc(vnc_path_);
  std::atomic<bool> saw_eof{false};
  vnc.serve([&](int fd) {
    send_all(fd, "x", 1);
    char buf[64];
    saw_eof = ::recv(fd, buf, sizeof(buf), 0) == 0;
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  EXPECT_EQ(client.read_n(1), "x");
  auto bridge = server.bridge();
  ASSERT_NE(bridge, nullptr);
  std::thread other([bridge] { bridge->close("VM stopped"); });
  other.join();
  bridge->close("server shutting down");  // the first reason wins, nothing breaks
  EXPECT_EQ(client.read_close(), "VM stopped");
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
  EXPECT_TRUE(saw_eof);
  bridge->close("after the end");  // harmless once closed
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.closed_count(), 1);
}

TEST_F(ConsoleBridgeTest, MissingSocketClosesWithAReason) {
  BridgeServer server(dir_ / "nothing-here.sock");
  Client client(server.port());
  EXPECT_EQ(client.read_close(), "console unavailable");
  ASSERT_TRUE(server.wait_closed());
  EXPECT_EQ(server.closed_count(), 1);
}

TEST_F(ConsoleBridgeTest, CloseWhileTheBrowserDoesNotReadStillFinishes) {
  // The bridge is stuck in a WebSocket write; the close frame cannot go out, the grace timer
  // must cut the connection.
  VncServer vnc(vnc_path_, 64 * 1024);
  std::atomic<bool> stop{false};
  vnc.serve([&](int fd) {
    auto chunk = pattern(0, 65536);
    while (!stop && send_all(fd, chunk.data(), chunk.size())) {
    }
  });
  BridgeServer server(vnc_path_,
                      [](tcp::socket& s) { s.set_option(net::socket_base::send_buffer_size(64 * 1024)); });
  Client client(server.port(), 64 * 1024);
  std::this_thread::sleep_for(300ms);
  auto started = std::chrono::steady_clock::now();
  server.bridge()->close("server shutting down");
  ASSERT_TRUE(server.wait_closed(ConsoleBridge::kCloseGrace + 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, ConsoleBridge::kCloseGrace + 3s);
  stop = true;
}

// Kernel buffers hold some bytes outside the bridge; everything beyond them and the bridge's
// own chunk must stay in the writer's hands while the reader is stalled.
std::size_t kernel_slack(int sndbuf_fd) {
  int v = 0;
  socklen_t len = sizeof(v);
  ::getsockopt(sndbuf_fd, SOL_SOCKET, SO_SNDBUF, &v, &len);
  return static_cast<std::size_t>(v);
}

TEST_F(ConsoleBridgeTest, SlowBrowserStopsReadsFromTheVm) {
  constexpr std::size_t kTotal = 100 * 1024 * 1024;
  constexpr int kBuf = 64 * 1024;  // Linux doubles it; the bound below reads the real values
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> vnc_sndbuf{0};
  VncServer vnc(vnc_path_, kBuf);
  vnc.serve([&](int fd) {
    vnc_sndbuf = kernel_slack(fd);
    auto chunk = pattern(0, 65536);
    while (accepted < kTotal) {
      const std::size_t at = accepted % 65536;  // keeps the stream a repetition of `chunk`
      ssize_t k = ::send(fd, chunk.data() + at, chunk.size() - at, MSG_NOSIGNAL);
      if (k <= 0) return;
      accepted += static_cast<std::size_t>(k);
    }
    char c;
    ::recv(fd, &c, 1, 0);
  });
  std::atomic<std::size_t> tcp_sndbuf{0};
  BridgeServer server(vnc_path_, [&](tcp::socket& s) {
    s.set_option(net::socket_base::send_buffer_size(kBuf));
    net::socket_base::send_buffer_size v;
    s.get_option(v);
    tcp_sndbuf = static_cast<std::size_t>(v.value());
  });
  Client client(server.port(), kBuf);
  net::socket_base::receive_buffer_size rcv;
  beast::get_lowest_layer(client.ws()).get_option(rcv);

  std::this_thread::sleep_for(1500ms);  // the client does not read
  const std::size_t stalled = accepted;
  const std::size_t bound = ConsoleBridge::kToBrowserMaxBytes + vnc_sndbuf + tcp_sndbuf +
                            static_cast<std::size_t>(rcv.value()) + 256 * 1024;  // + frame headers, skb overhead
  RecordProperty("stalled_bytes", std::to_string(stalled));
  EXPECT_GT(stalled, 0u);
  EXPECT_LE(stalled, bound) << "the bridge kept reading from the VNC socket while the browser was stalled";
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(accepted.load(), stalled) << "still reading while stalled";

  // Reading resumes: every byte arrives, in order.
  std::size_t got = 0;
  bool in_order = true;
  beast::flat_buffer buf;
  while (got < kTotal) {
    client.ws().read(buf);
    for (auto b : beast::buffers_range(buf.data())) {
      auto p = static_cast<const char*>(b.data());
      for (std::size_t i = 0; i < b.size(); ++i) in_order &= p[i] == pattern_at((got + i) % 65536);
      got += b.size();
    }
    buf.consume(buf.size());
  }
  EXPECT_EQ(got, kTotal);
  EXPECT_TRUE(in_order);
  client.close();
  ASSERT_TRUE(server.wait_closed());
}

TEST_F(ConsoleBridgeTest, SlowVmStopsReadsFromTheBrowser) {
  constexpr std::size_t kMsg = 16 * 1024;
  constexpr std::size_t kTotal = 20 * 1024 * 1024;
  constexpr int kBuf = 64 * 1024;
  std::atomic<bool> vm_reads{false};
  std::atomic<std::size_t> vm_got{0};
  int vm_rcvbuf = 0;
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kBuf, sizeof(kBuf));
    socklen_t len = sizeof(vm_rcvbuf);
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &vm_rcvbuf, &len);
    while (!vm_reads) std::this_thread::sleep_for(10ms);
    vm_got = recv_n(fd, kTotal).size();
  });
  std::atomic<std::size_t> tcp_rcvbuf{0};
  BridgeServer server(vnc_path_, [&](tcp::socket& s) {
    s.set_option(net::socket_base::receive_buffer_size(kBuf));
    net::socket_base::receive_buffer_size v;
    s.get_option(v);
    tcp_rcvbuf = static_cast<std::size_t>(v.value());
  });
  Client client(server.port());
  beast::get_lowest_layer(client.ws()).set_option(net::socket_base::send_buffer_size(kBuf));
  net::socket_base::send_buffer_size snd;
  beast::get_lowest_layer(client.ws()).get_option(snd);

  std::atomic<std::size_t> sent{0};
  const auto stream = rfb_stream_of(pattern(0, kTotal)).substr(0, kTotal);  // valid all the way
  std::thread writer([&] {
    beast::error_code ec;
    while (sent < kTotal && !ec) {
      client.ws().write(net::buffer(stream.data() + sent, kMsg), ec);
      if (!ec) sent += kMsg;
    }
  });
  std::this_thread::sleep_for(1500ms);
  const std::size_t stalled = sent;
  // UNIX stream sockets charge queued bytes to the sender's SO_SNDBUF (the bridge's default,
  // ~208 KiB) as well as the receiver's; count the larger generously.
  const std::size_t bound = ConsoleBridge::kToVmBytes + static_cast<std::size_t>(snd.value()) + tcp_rcvbuf +
                            static_cast<std::size_t>(vm_rcvbuf) + 512 * 1024 + kMsg;
  EXPECT_LE(stalled, bound) << "the bridge kept reading from the browser while the VM was stalled";
  vm_reads = true;
  writer.join();
  vnc.join();
  EXPECT_EQ(vm_got.load(), kTotal);
  client.close();
  ASSERT_TRUE(server.wait_closed());
}

// ---- the client stream: view-only filtering, malformed streams, figures ----

std::string be32s(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
const std::string kFbur = {'\x03', '\x01', 0, 0, 0, 0, 0, 1, 0, 1};
const std::string kKey = std::string{'\x04', '\x01', 0, 0} + be32s(0x61);
const std::string kPointer = {'\x05', '\x01', 0, 10, 0, 20};
const std::string kEncodings = std::string{'\x02', 0, 0, 1} + be32s(0);

TEST_F(ConsoleBridgeTest, ViewOnlyViewerInputNeverReachesTheVm) {
  const auto dropped_before = console_stats().dropped_messages.load();
  // Everything a view-only viewer may send ends with this FBUR, so the VM knows when to stop.
  const std::string exclusive_init = std::string("RFB 003.008\n") + '\x01' + '\x00';
  const std::string sent = exclusive_init + kFbur + kKey + kPointer + kEncodings + cut_text_header(3) + "abc" +
                           kKey + std::string{'\x03', '\x00', 0, 0, 0, 0, 0, 2, 0, 2};
  const std::string expected = std::string("RFB 003.008\n") + '\x01' + '\x01' + kFbur + kEncodings +
                               std::string{'\x03', '\x00', 0, 0, 0, 0, 0, 2, 0, 2};
  std::string got;
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    got = recv_n(fd, expected.size());
    send_all(fd, "k", 1);
    char c;
    ::recv(fd, &c, 1, 0);
  });
  BridgeServer server(vnc_path_, {}, ViewerSpec{"vm1", ViewerMode::view_only, "127.0.0.1", 0, "share"});
  Client client(server.port());
  for (std::size_t at = 0; at < sent.size(); at += 5) client.send(sent.substr(at, 5));  // cut anywhere
  EXPECT_EQ(client.read_n(1), "k");
  client.close();  // before joining: the fake VM waits for the bridge to hang up
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
  EXPECT_EQ(got, expected) << "only whole non-input messages, ClientInit made shared";
  EXPECT_EQ(console_stats().dropped_messages.load() - dropped_before, 4);
}

TEST_F(ConsoleBridgeTest, MalformedStreamClosesTheViewerWithProtocolError) {
  for (auto mode : {ViewerMode::control, ViewerMode::view_only}) {
    const auto errors_before = console_stats().protocol_errors.load();
    std::atomic<std::size_t> vm_got{0};
    VncServer vnc(vnc_path_ + to_string(mode));
    vnc.serve([&](int fd) {
      char buf[256];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) vm_got += static_cast<std::size_t>(n);
    });
    BridgeServer server(vnc_path_ + to_string(mode), {}, ViewerSpec{"vm1", mode, "", 0, ""});
    Client client(server.port());
    client.send(rfb_handshake() + kFbur);
    client.send(kFbur + std::string{'\x07', 0, 0, 0});  // no client message 7
    EXPECT_EQ(client.read_close(), "protocol error") << to_string(mode);
    ASSERT_TRUE(server.wait_closed());
    vnc.join();
    EXPECT_EQ(vm_got.load(), rfb_handshake().size() + kFbur.size()) << "nothing of the malformed chunk";
    EXPECT_EQ(console_stats().protocol_errors.load() - errors_before, 1);
  }
}

TEST_F(ConsoleBridgeTest, FiguresCountAnsweredRequestsBytesAndInputLatency) {
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    recv_n(fd, rfb_handshake().size() + kFbur.size());
    send_all(fd, std::string(5000, 'u').data(), 5000);  // the update answering the request
    recv_n(fd, kKey.size());
    std::this_thread::sleep_for(80ms);  // the guest takes its time to show the key
    send_all(fd, "v", 1);
    char c;
    ::recv(fd, &c, 1, 0);
  });
  BridgeServer server(vnc_path_, {}, ViewerSpec{"vm-figures", ViewerMode::control, "10.0.0.1", 7, "owner"});
  Client client(server.port());
  client.send(rfb_handshake() + kFbur);
  EXPECT_EQ(client.read_n(5000).size(), 5000u);
  client.send(kKey);
  EXPECT_EQ(client.read_n(1), "v");
  const auto list = console_viewers().of_vm("vm-figures");
  ASSERT_EQ(list.size(), 1u);
  const auto& v = list[0];
  EXPECT_EQ(v.mode, ViewerMode::control);
  EXPECT_EQ(v.address, "10.0.0.1");
  EXPECT_EQ(v.user_id, 7);
  EXPECT_EQ(v.frames, 1u);
  EXPECT_EQ(v.bytes, 5001u);
  EXPECT_GE(v.latency_ms, 75);
  EXPECT_LT(v.latency_ms, 5000);
  EXPECT_EQ(v.latency_p50_ms, v.latency_ms);
  EXPECT_TRUE(console_viewers().close("vm-figures", v.id, "kicked"));
  EXPECT_EQ(client.read_close(), "kicked");
  ASSERT_TRUE(server.wait_closed());
  EXPECT_TRUE(console_viewers().of_vm("vm-figures").empty());
}

}  // namespace
}  // namespace vmshare::vm

// ---- the bridge's own WebSocket framing: control frames, keep-alive, protocol violations ----

namespace vmshare::vm {
namespace {

TEST_F(ConsoleBridgeTest, PingsAreAnsweredBetweenDataFrames) {
  VncServer vnc(vnc_path_);
  std::atomic<bool> go{false};
  vnc.serve([&](int fd) {
    while (!go) std::this_thread::sleep_for(5ms);
    send_all(fd, "frame", 5);
    std::this_thread::sleep_for(200ms);  // the pong is long sent by then
    send_all(fd, "later", 5);
    char c;
    ::recv(fd, &c, 1, 0);
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  std::vector<std::string> pongs;
  client.ws().control_callback([&](websocket::frame_type kind, beast::string_view payload) {
    if (kind == websocket::frame_type::pong) pongs.emplace_back(payload);
  });
  client.ws().ping("are you there");
  go = true;
  // A pong inside a data frame would fail Beast's read; it comes before, between or after them.
  EXPECT_EQ(client.read_n(10), "framelater");
  client.close();
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_EQ(pongs.front(), "are you there");
}

TEST_F(ConsoleBridgeTest, AViewerThatAnswersNoPingIsCutAfterTheIdleTimeout) {
  VncServer vnc(vnc_path_);
  std::atomic<bool> saw_eof{false};
  vnc.serve([&](int fd) {
    char buf[64];
    saw_eof = ::recv(fd, buf, sizeof(buf), 0) == 0;
  });
  const ConsoleBridge::Timing quick{200ms, 600ms};
  BridgeServer server(vnc_path_, {}, {}, quick);
  Client client(server.port());  // connected, then silent: it never reads, so never answers a ping
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(server.wait_closed(5s));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);
  vnc.join();
  EXPECT_TRUE(saw_eof) << "the VM's connection ends with the viewer's";
  // What the silent client was sent meanwhile: keep-alive pings, then nothing (the cut).
  beast::flat_buffer buf;
  beast::error_code ec;
  int pings = 0;
  client.ws().control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  client.ws().read(buf, ec);
  EXPECT_TRUE(ec) << "the connection was cut";
  EXPECT_GE(pings, 1);
}

TEST_F(ConsoleBridgeTest, AnActiveViewerIsPingedAndStaysConnected) {
  VncServer vnc(vnc_path_);
  std::atomic<bool> stop{false};
  vnc.serve([&](int fd) {
    char buf[64];
    ::recv(fd, buf, sizeof(buf), 0);
    (void)stop;
  });
  BridgeServer server(vnc_path_, {}, {}, ConsoleBridge::Timing{100ms, 300ms});
  Client client(server.port());
  int pings = 0;
  client.ws().control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  // Reading answers pings (Beast replies with pongs), which counts as activity for the bridge.
  std::thread closer([&] {
    std::this_thread::sleep_for(1200ms);
    server.bridge()->close("done");
  });
  EXPECT_EQ(client.read_close(), "done");
  closer.join();
  EXPECT_GE(pings, 3) << "pinged while idle";
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
}

TEST_F(ConsoleBridgeTest, AWebSocketProtocolViolationClosesTheViewerWith1002) {
  std::atomic<std::size_t> vm_got{0};
  VncServer vnc(vnc_path_);
  vnc.serve([&](int fd) {
    char buf[256];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) vm_got += static_cast<std::size_t>(n);
  });
  BridgeServer server(vnc_path_);
  Client client(server.port());
  client.send(rfb_handshake());
  // An unmasked client frame (RFC 6455 5.1: the server must close the connection).
  const std::string unmasked = "\x82\x03" "abc";
  net::write(beast::get_lowest_layer(client.ws()), net::buffer(unmasked));
  // The close frame arrives, then the connection ends without waiting for the client's answer
  // (RFC 6455 7.1.7), so Beast's read may end with a socket error instead of `closed`.
  beast::flat_buffer buf;
  beast::error_code ec;
  while (!ec) client.ws().read(buf, ec);
  EXPECT_EQ(client.ws().reason().code, websocket::close_code::protocol_error);
  EXPECT_EQ(std::string(client.ws().reason().reason), "WebSocket protocol error");
  ASSERT_TRUE(server.wait_closed());
  vnc.join();
  EXPECT_EQ(vm_got.load(), rfb_handshake().size()) << "nothing of the bad frame reached the VM";
}

}  // namespace
}  // namespace vmshare::vm
