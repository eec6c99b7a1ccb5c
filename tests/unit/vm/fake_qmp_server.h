#pragma once
// A scripted fake QMP server on a UNIX socket, for testing QmpConnection without QEMU.
// Plain POSIX and a thread: it must not share code (or bugs) with the client under test.
// It greets, answers qmp_capabilities, and hands every later command to the script, which
// may reply, fail, emit events, stay silent, or close the connection.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace vmshare::vm::test {

class FakeQmpServer {
 public:
  using json = nlohmann::json;

  struct Conn {
    int fd = -1;
    void send_raw(const std::string& s) {
      std::size_t off = 0;
      while (fd >= 0 && off < s.size()) {
        ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
      }
    }
    void send(const json& j) { send_raw(j.dump() + "\n"); }
    void reply(const json& cmd, const json& ret) {
      json r{{"return", ret}};
      if (cmd.contains("id")) r["id"] = cmd["id"];
      send(r);
    }
    void error(const json& cmd, const std::string& cls, const std::string& desc) {
      json r{{"error", {{"class", cls}, {"desc", desc}}}};
      if (cmd.contains("id")) r["id"] = cmd["id"];
      send(r);
    }
    void event(const std::string& name, const json& data = nullptr) {
      json e{{"event", name}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}};
      if (!data.is_null()) e["data"] = data;
      send(e);
    }
    void close() {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    // True when more bytes arrive within `ms` (used to prove one command in flight).
    bool readable_within(int ms) {
      pollfd p{fd, POLLIN, 0};
      return ::poll(&p, 1, ms) == 1;
    }
  };

  using Script = std::function<void(Conn&, const json& command)>;

  struct Options {
    bool greet = true;
    std::string greeting_override;  // raw line instead of the normal greeting
  };

  FakeQmpServer(std::string path, Script script) : FakeQmpServer(std::move(path), std::move(script), Options()) {}
  FakeQmpServer(std::string path, Script script, Options opt)
      : path_(std::move(path)), script_(std::move(script)), opt_(std::move(opt)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    ::unlink(path_.c_str());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 4) != 0)
      throw std::runtime_error("fake qmp: bind/listen failed");
    thread_ = std::thread([this] { run(); });
  }

  ~FakeQmpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }

  std::vector<json> received() {
    std::lock_guard lk(mu_);
    return received_;
  }
  std::vector<std::string> received_names() {
    std::vector<std::string> out;
    for (const auto& c : received()) out.push_back(c.value("execute", ""));
    return out;
  }

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) == 1) return true;
    }
    return false;
  }

  void run() {
    if (!wait_readable(listen_fd_)) return;
    Conn c;
    c.fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (!opt_.greeting_override.empty()) {
      c.send_raw(opt_.greeting_override);
    } else if (opt_.greet) {
      c.send(json::parse(
          R"({"QMP":{"version":{"qemu":{"micro":0,"minor":2,"major":7},"package":"fake"},"capabilities":["oob"]}})"));
    }
    std::string buf;
    char tmp[4096];
    while (c.fd >= 0 && wait_readable(c.fd)) {
      ssize_t n = ::recv(c.fd, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<std::size_t>(n));
      std::size_t nl;
      while (c.fd >= 0 && (nl = buf.find('\n')) != std::string::npos) {
        json cmd = json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        {
          std::lock_guard lk(mu_);
          received_.push_back(cmd);
        }
        if (cmd.value("execute", "") == "qmp_capabilities")
          c.reply(cmd, json::object());
        else
          script_(c, cmd);
      }
    }
    c.close();
  }

  std::string path_;
  Script script_;
  Options opt_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> received_;
};

}  // namespace vmshare::vm::test
