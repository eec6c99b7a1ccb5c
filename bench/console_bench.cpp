// RFB client benchmark: handshake, then full-frame FramebufferUpdateRequests back to back for a
// fixed time; reports frames/s and per-frame latency (request sent -> last byte received).
// Transports: a UNIX socket straight to the source, or a WebSocket (websockify, bridge_only,
// vmshare's /ws/<vmid>). With --clients K, K consoles run at once on one thread; with
// --rss-pid, the RSS growth of that process tree while they are open is reported per console.
//
// Usage: console_bench (--unix PATH | --ws HOST:PORT/PATH [--cookie C] [--origin O])
//                      [--seconds S] [--clients K] [--rss-pid PID] [--cpu-pid PID] [--label NAME]
// --targets FILE: one "HOST:PORT/PATH COOKIE" per line (many VMs, each with its owner's cookie);
// client i uses line i modulo the count. --report-every S prints each interval's frames/s.
// --cpu-pid reports the CPU time (user+system, the tree and its reaped children) that process
// spent per frame: unlike frames/s it hardly moves when other jobs share the cores. vmshare's
// tree holds the VM's QEMU (its child), so cpu_self_us_per_frame gives the process alone too.
// Output: one line of key=value pairs (easy to grep from the run script).
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string unix_path, ws_host, ws_port, ws_target, cookie, origin, label = "run";
  double seconds = 5;
  double report_every = 0;
  int clients = 1;
  int rss_pid = 0;
  int cpu_pid = 0;
  struct Target {
    std::string host, port, path, cookie;
  };
  std::vector<Target> targets;  // from --targets; empty: the single --ws/--unix target
};

// A byte stream, whatever carries it.
struct Transport {
  virtual ~Transport() = default;
  virtual awaitable<std::size_t> read_some(net::mutable_buffer b) = 0;
  virtual awaitable<void> write(net::const_buffer b) = 0;
};

struct UnixTransport : Transport {
  net::local::stream_protocol::socket s;
  explicit UnixTransport(net::any_io_executor ex) : s(ex) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b) override { co_return co_await s.async_read_some(b, use_awaitable); }
  awaitable<void> write(net::const_buffer b) override { co_await net::async_write(s, b, use_awaitable); }
};

struct WsTransport : Transport {
  websocket::stream<beast::tcp_stream> ws;
  explicit WsTransport(net::any_io_executor ex) : ws(ex) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b) override { co_return co_await ws.async_read_some(b, use_awaitable); }
  awaitable<void> write(net::const_buffer b) override { co_await ws.async_write(b, use_awaitable); }
};

// Exact reads over read_some, with a scratch buffer for the frame bytes we only count.
struct Reader {
  Transport& t;
  std::vector<char> scratch = std::vector<char>(256 * 1024);
  awaitable<void> exact(void* dst, std::size_t n) {
    auto p = static_cast<char*>(dst);
    while (n > 0) {
      std::size_t k = co_await t.read_some(net::buffer(p, n));
      p += k;
      n -= k;
    }
  }
  awaitable<void> skip(std::size_t n) {
    while (n > 0) n -= co_await t.read_some(net::buffer(scratch.data(), std::min(n, scratch.size())));
  }
};

struct ClientResult {
  std::vector<double> latencies_ms;
  std::string error;
  bool connected = false;
};

std::uint32_t be32(const unsigned char* p) { return (std::uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

awaitable<std::unique_ptr<Transport>> open_transport(const Options& o, std::size_t index) {
  std::string host = o.ws_host, port = o.ws_port, target = o.ws_target, cookie = o.cookie;
  if (!o.targets.empty()) {
    const auto& t = o.targets[index % o.targets.size()];
    host = t.host, port = t.port, target = t.path, cookie = t.cookie;
  }
  auto ex = co_await net::this_coro::executor;
  if (!o.unix_path.empty()) {
    auto t = std::make_unique<UnixTransport>(ex);
    co_await t->s.async_connect(net::local::stream_protocol::endpoint(o.unix_path), use_awaitable);
    co_return t;
  }
  auto t = std::make_unique<WsTransport>(ex);
  net::ip::tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(host, port, use_awaitable);
  co_await beast::get_lowest_layer(t->ws).async_connect(endpoints, use_awaitable);
  beast::get_lowest_layer(t->ws).socket().set_option(net::ip::tcp::no_delay(true));
  t->ws.set_option(websocket::stream_base::decorator([o, cookie](websocket::request_type& req) {
    req.set(beast::http::field::sec_websocket_protocol, "binary");
    if (!cookie.empty()) req.set(beast::http::field::cookie, cookie);
    if (!o.origin.empty()) req.set(beast::http::field::origin, o.origin);
  }));
  co_await t->ws.async_handshake(host + ":" + port, target, use_awaitable);
  t->ws.binary(true);
  t->ws.auto_fragment(false);
  co_return t;
}

awaitable<void> run_client(const Options& o, std::size_t index, Clock::time_point deadline, ClientResult& r,
                           int& connected_count, std::size_t& frames_total) {
  try {
    auto t = co_await open_transport(o, index);
    Reader rd{*t};
    unsigned char buf[64];
    co_await rd.exact(buf, 12);  // "RFB 003.008\n"
    co_await t->write(net::buffer("RFB 003.008\n", 12));
    co_await rd.exact(buf, 1);
    std::size_t ntypes = buf[0];
    co_await rd.exact(buf, ntypes);
    if (std::find(buf, buf + ntypes, 1) == buf + ntypes) throw std::runtime_error("no None security type");
    co_await t->write(net::buffer("\x01", 1));
    co_await rd.exact(buf, 4);
    if (be32(buf) != 0) throw std::runtime_error("security failed");
    co_await t->write(net::buffer("\x01", 1));  // shared
    co_await rd.exact(buf, 24);
    const std::uint16_t w = be16(buf), h = be16(buf + 2);
    const unsigned bpp = buf[4];
    co_await rd.skip(be32(buf + 20));  // desktop name
    const unsigned char set_encodings[] = {2, 0, 0, 1, 0, 0, 0, 0};  // Raw only
    co_await t->write(net::buffer(set_encodings));
    unsigned char request[10] = {3, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // non-incremental: a full frame
    request[6] = w >> 8; request[7] = w & 0xff; request[8] = h >> 8; request[9] = h & 0xff;
    r.connected = true;
    ++connected_count;
    while (Clock::now() < deadline) {
      auto t0 = Clock::now();
      co_await t->write(net::buffer(request));
      co_await rd.exact(buf, 4);
      if (buf[0] != 0) throw std::runtime_error("unexpected server message " + std::to_string(buf[0]));
      const unsigned rects = be16(buf + 2);
      for (unsigned i = 0; i < rects; ++i) {
        co_await rd.exact(buf, 12);
        if (be32(buf + 8) != 0) throw std::runtime_error("non-raw rectangle");
        co_await rd.skip(std::size_t{be16(buf + 4)} * be16(buf + 6) * (bpp / 8));
      }
      r.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      ++frames_total;
    }
    // Stay connected until the last client is done, so the RSS sample sees every console.
    co_return;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
}

// A process and its descendants (websockify forks one child per connection).
std::vector<int> process_tree(int root) {
  std::vector<std::pair<int, int>> procs;  // pid, ppid
  if (DIR* d = opendir("/proc")) {
    while (auto* e = readdir(d)) {
      int pid = std::atoi(e->d_name);
      if (pid <= 0) continue;
      std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      if (!std::getline(st, line)) continue;
      auto close_paren = line.rfind(')');
      int ppid = 0;
      std::sscanf(line.c_str() + close_paren + 2, "%*c %d", &ppid);
      procs.push_back({pid, ppid});
    }
    closedir(d);
  }
  std::vector<int> tree{root};
  for (std::size_t i = 0; i < tree.size(); ++i)
    for (auto [pid, ppid] : procs)
      if (ppid == tree[i]) tree.push_back(pid);
  return tree;
}

long rss_tree_kib(int root) {
  long total = 0;
  for (int pid : process_tree(root)) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) total += std::atol(line.c_str() + 6);
  }
  return total;
}

// utime+stime (+cutime+cstime, its reaped children's) of one process, in clock ticks.
long cpu_ticks_of(int pid, bool with_reaped) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return 0;
  long ut = 0, stt = 0, cut = 0, cst = 0;
  std::sscanf(line.c_str() + line.rfind(')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld %ld %ld", &ut,
              &stt, &cut, &cst);
  return ut + stt + (with_reaped ? cut + cst : 0);
}

// utime+stime+cutime+cstime of the tree, in clock ticks.
long cpu_tree_ticks(int root) {
  long total = 0;
  for (int pid : process_tree(root)) total += cpu_ticks_of(pid, true);
  return total;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--unix") o.unix_path = v;
    else if (a == "--ws") {  // host:port/path
      auto slash = v.find('/');
      auto hostport = v.substr(0, slash);
      o.ws_target = slash == std::string::npos ? "/" : v.substr(slash);
      o.ws_host = hostport.substr(0, hostport.find(':'));
      o.ws_port = hostport.substr(hostport.find(':') + 1);
    } else if (a == "--cookie") o.cookie = v;
    else if (a == "--origin") o.origin = v;
    else if (a == "--seconds") o.seconds = std::atof(v.c_str());
    else if (a == "--clients") o.clients = std::atoi(v.c_str());
    else if (a == "--rss-pid") o.rss_pid = std::atoi(v.c_str());
    else if (a == "--cpu-pid") o.cpu_pid = std::atoi(v.c_str());
    else if (a == "--label") o.label = v;
    else if (a == "--report-every") o.report_every = std::atof(v.c_str());
    else if (a == "--targets") {
      std::ifstream in(v);
      for (std::string line; std::getline(in, line);) {
        auto sp = line.find(' ');
        std::string url = line.substr(0, sp), hostport = url.substr(0, url.find('/'));
        o.targets.push_back({hostport.substr(0, hostport.find(':')), hostport.substr(hostport.find(':') + 1),
                             url.substr(url.find('/')), sp == std::string::npos ? "" : line.substr(sp + 1)});
      }
    }
  }
  if (o.unix_path.empty() && o.ws_host.empty() && o.targets.empty()) {
    std::fprintf(stderr, "usage: console_bench (--unix PATH | --ws HOST:PORT/PATH) [--seconds S] [--clients K] "
                         "[--rss-pid PID] [--cpu-pid PID] [--cookie C] [--origin O] [--label NAME]\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  net::io_context io(1);
  const long rss_before = o.rss_pid ? rss_tree_kib(o.rss_pid) : 0;
  const long cpu_before = o.cpu_pid ? cpu_tree_ticks(o.cpu_pid) : 0;
  const long self_before = o.cpu_pid ? cpu_ticks_of(o.cpu_pid, false) : 0;
  long rss_open = 0;
  std::vector<ClientResult> results(static_cast<std::size_t>(o.clients));
  int connected = 0;
  const auto start = Clock::now();
  // Connections are set up inside the measured window; with many clients that is a small share.
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::size_t frames_total = 0;
  for (std::size_t i = 0; i < results.size(); ++i)
    net::co_spawn(io, run_client(o, i, deadline, results[i], connected, frames_total), net::detached);
  // Progress lines, so a long load run shows whether throughput holds over time.
  net::steady_timer tick(io);
  std::size_t frames_at_tick = 0;
  std::function<void()> arm = [&] {
    tick.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.report_every)));
    tick.async_wait([&](beast::error_code ec) {
      if (ec || Clock::now() >= deadline) return;
      std::printf("progress t=%.0f connected=%d fps=%.1f\n", std::chrono::duration<double>(Clock::now() - start).count(),
                  connected, static_cast<double>(frames_total - frames_at_tick) / o.report_every);
      std::fflush(stdout);
      frames_at_tick = frames_total;
      arm();
    });
  };
  if (o.report_every > 0) arm();
  // Sample the RSS while every console is open: halfway through the run.
  net::steady_timer sample(io, start + (deadline - start) / 2);
  sample.async_wait([&](beast::error_code) {
    if (o.rss_pid) rss_open = rss_tree_kib(o.rss_pid);
  });
  io.run();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const long cpu_ticks = o.cpu_pid ? cpu_tree_ticks(o.cpu_pid) - cpu_before : 0;
  const long self_ticks = o.cpu_pid ? cpu_ticks_of(o.cpu_pid, false) - self_before : 0;

  std::vector<double> all, per_client_fps;
  int errors = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    per_client_fps.push_back(static_cast<double>(r.latencies_ms.size()) / elapsed);
    if (!r.error.empty() && errors++ == 0) first_error = r.error;
  }
  std::sort(per_client_fps.begin(), per_client_fps.end());
  std::printf("label=%s clients=%d connected=%d errors=%d seconds=%.2f frames=%zu fps=%.1f p50_ms=%.2f p99_ms=%.2f "
              "min_client_fps=%.2f median_client_fps=%.2f",
              o.label.c_str(), o.clients, connected, errors, elapsed, all.size(), static_cast<double>(all.size()) / elapsed,
              percentile(all, 0.50), percentile(all, 0.99), per_client_fps.front(),
              per_client_fps[per_client_fps.size() / 2]);
  if (o.rss_pid)
    std::printf(" rss_before_kib=%ld rss_open_kib=%ld rss_per_console_kib=%.1f", rss_before, rss_open,
                static_cast<double>(rss_open - rss_before) / o.clients);
  if (o.cpu_pid && !all.empty())
    std::printf(" cpu_us_per_frame=%.1f cpu_share=%.2f", 1e6 * static_cast<double>(cpu_ticks) / sysconf(_SC_CLK_TCK) / all.size(),
                static_cast<double>(cpu_ticks) / sysconf(_SC_CLK_TCK) / elapsed);
  if (o.cpu_pid && !all.empty())
    std::printf(" cpu_self_us_per_frame=%.1f", 1e6 * static_cast<double>(self_ticks) / sysconf(_SC_CLK_TCK) / all.size());
  if (errors) std::printf(" first_error=\"%s\"", first_error.c_str());
  std::printf("\n");
  return errors ? 1 : 0;
}
