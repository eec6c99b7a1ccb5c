#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 standing in for the reCAPTCHA verify endpoint.
// It answers every request with one canned reply (optionally late) and records what it got.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace vmshare::auth::testing {

struct CannedReply {
  int status = 200;
  std::string body = R"({"success": true})";
  std::chrono::milliseconds delay{0};
};

class FakeVerifyServer {
 public:
  explicit FakeVerifyServer(CannedReply reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("bind/listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeVerifyServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/siteverify"; }
  int requests() const { return requests_.load(); }

  std::string last_request_line() const {
    std::lock_guard lock(mutex_);
    return request_line_;
  }
  std::string last_content_type() const {
    std::lock_guard lock(mutex_);
    return content_type_;
  }
  std::map<std::string, std::string> last_form() const {
    std::lock_guard lock(mutex_);
    return form_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      handle(conn);
      ::close(conn);
    }
  }

  void handle(int conn) {
    std::string data;
    std::size_t header_end = std::string::npos, content_length = 0;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
      if (stop_ || std::chrono::steady_clock::now() > deadline) return;
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.append(buf, static_cast<std::size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos)
        content_length = header_value_size(data.substr(0, header_end), "content-length");
    }
    record(data.substr(0, header_end), data.substr(header_end + 4, content_length));
    ++requests_;

    const auto until = std::chrono::steady_clock::now() + reply_.delay;
    while (!stop_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::string out = "HTTP/1.1 " + std::to_string(reply_.status) + " X\r\n" +
                            "Content-Type: application/json\r\nConnection: close\r\n" +
                            "Content-Length: " + std::to_string(reply_.body.size()) + "\r\n\r\n" +
                            reply_.body;
    ::send(conn, out.data(), out.size(), MSG_NOSIGNAL);  // the client may have given up already
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string header(const std::string& head, const std::string& name) {
    const std::string l = lower(head);
    const auto at = l.find("\r\n" + name + ":");
    if (at == std::string::npos) return "";
    auto start = at + name.size() + 3;
    const auto end = head.find("\r\n", start);
    while (start < end && head[start] == ' ') ++start;
    return head.substr(start, end - start);
  }

  static std::size_t header_value_size(const std::string& head, const std::string& name) {
    const std::string v = header(head, name);
    return v.empty() ? 0 : std::stoul(v);
  }

  static std::string url_decode(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out.push_back(' ');
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  void record(const std::string& head, const std::string& body) {
    std::map<std::string, std::string> form;
    std::size_t pos = 0;
    while (pos <= body.size()) {
      const auto amp = body.find('&', pos);
      const std::string pair = body.substr(pos, amp == std::string::npos ? amp : amp - pos);
      const auto eq = pair.find('=');
      if (eq != std::string::npos) form[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    std::lock_guard lock(mutex_);
    request_line_ = head.substr(0, head.find("\r\n"));
    content_type_ = header(head, "content-type");
    form_ = std::move(form);
  }

  CannedReply reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::string request_line_, content_type_;
  std::map<std::string, std::string> form_;
};

// A loopback port with nothing listening: bind one, note it, close it.
inline int closed_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace vmshare::auth::testing
