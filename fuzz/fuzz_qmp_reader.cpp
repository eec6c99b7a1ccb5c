// The QMP reader as QEMU's side of the socket sees it: the fuzzer's bytes are what "QEMU" sends
// (greeting, replies, events, garbage) over a real UNIX socket to a QmpConnection that has three
// commands queued. Framing, JSON parsing, greeting/negotiation and reply dispatch run unchanged;
// nothing may throw out of the I/O loop, and every queued command must get exactly one answer.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "vm/qmp_connection.h"

using namespace vmshare::vm;

namespace {

std::string g_path;
int g_listen = -1;

void write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return;  // the client gave up (sticky error): fine
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  char tmpl[] = "/tmp/vmshare-fuzz-qmp-XXXXXX";
  g_path = std::string(::mkdtemp(tmpl)) + "/qmp.sock";
  g_listen = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path.c_str());
  if (::bind(g_listen, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(g_listen, 4) != 0)
    std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::asio::io_context io;
  int answers = 0;
  {
    QmpOptions opt;
    opt.max_line = 1024;  // small, so the oversized-line path is reachable
    QmpConnection qmp(io.get_executor(), opt);
    qmp.on_event([](const std::string& name, const nlohmann::json& data) { (void)data.dump(); });
    qmp.async_connect(g_path, [](const QmpStatus&) {});
    for (const char* cmd : {"query-status", "query-jobs", "screendump"})
      qmp.async_execute(cmd, nlohmann::json::object(), [&answers](const QmpStatus&, const nlohmann::json&) { ++answers; });
    io.poll();  // issues the connect; the kernel queues it on the listening socket
    const int fd = ::accept4(g_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) std::abort();
    write_all(fd, data, size);
    ::shutdown(fd, SHUT_WR);  // EOF ends the session: run() returns once everything failed
    io.run();
    ::close(fd);
  }
  io.restart();
  io.run();  // the destructor's close()
  if (answers != 3) __builtin_trap();
  return 0;
}
