// A stand-in QEMU for benchmarks (VMSHARE_QEMU=<this>): a synthetic RFB 3.8 server that answers
// every FramebufferUpdateRequest at once with a raw 720x400x32 frame (and reports each KeyEvent
// to every client as ServerCutText "key <keysym hex> down|up"), and a minimal QMP (with
// just enough of the block commands for snapshots, so e2e chaos tests can take them).
// It reads the -vnc (unix:<path> or none) and -qmp unix:<path>,... or -chardev socket,fd=N
// arguments and ignores the rest; over QMP it takes descriptors as QEMU does (getfd + add_client
// for VNC viewers, add-fd / remove-fd and /dev/fdset/<n> for screendump). Plain POSIX, one thread per client: the point is a source that
// is never the bottleneck, not elegance. Exits on SIGTERM/SIGINT or QMP quit/system_powerdown.
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::uint16_t kWidth = 720, kHeight = 400;
constexpr std::size_t kFrameBytes = std::size_t{kWidth} * kHeight * 4;

std::string g_vnc_path, g_qmp_path;
int g_qmp_fd = -1;
std::mutex g_fds_mutex;
std::map<std::string, int> g_named_fds;    // getfd
std::map<std::int64_t, int> g_fdsets;      // add-fd
std::int64_t g_next_fdset = 10;
// Hot-plugged devices (device_add ids), under g_fds_mutex: like QEMU's, they outlive a monitor
// connection (a restarted vmshare finds the USB stick it plugged in before).
std::set<std::string> g_devices;
std::set<int> g_qmp_clients;  // under g_fds_mutex: SIGUSR1 cuts them (a monitor lost, QEMU alive)
int g_qmp_listener = -1;      // SIGUSR2 also closes this: the monitor cannot be reopened

void cleanup_and_exit(int code) {
  if (!g_vnc_path.empty()) ::unlink(g_vnc_path.c_str());
  if (!g_qmp_path.empty()) ::unlink(g_qmp_path.c_str());
  std::_Exit(code);
}

int listen_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    std::fprintf(stderr, "fake_rfb_qemu: socket path too long: %s\n", path.c_str());
    std::exit(1);
  }
  std::strcpy(addr.sun_path, path.c_str());
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 256) != 0) {
    std::perror("fake_rfb_qemu: bind/listen");
    std::exit(1);
  }
  return fd;
}

bool send_all(int fd, const void* data, std::size_t n) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool recv_all(int fd, void* data, std::size_t n) {
  auto p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

void put16(std::uint8_t* p, std::uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
void put32(std::uint8_t* p, std::uint32_t v) { p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff; }

// One FramebufferUpdate with one raw full-screen rectangle, built once and shared.
const std::vector<std::uint8_t>& frame_message() {
  static const std::vector<std::uint8_t> msg = [] {
    std::vector<std::uint8_t> m(4 + 12 + kFrameBytes);
    m[0] = 0;  // FramebufferUpdate
    put16(&m[2], 1);
    put16(&m[4], 0); put16(&m[6], 0); put16(&m[8], kWidth); put16(&m[10], kHeight);
    put32(&m[12], 0);  // Raw
    for (std::size_t i = 0; i < kFrameBytes; ++i) m[16 + i] = static_cast<std::uint8_t>(i * 7 + (i >> 12));
    return m;
  }();
  return msg;
}

// Every RFB client, so that input can be reported to all of them: each KeyEvent received is sent
// to every client as a ServerCutText "key <keysym hex> down|up" (tests show whose input reached
// "QEMU"). A client's writes hold its mutex, so a report never lands inside a frame.
struct RfbPeer {
  int fd;
  std::mutex write;
};
std::mutex g_rfb_mutex;
std::set<std::shared_ptr<RfbPeer>> g_rfb_peers;

void report_to_all(const std::string& text) {
  std::vector<std::shared_ptr<RfbPeer>> peers;
  {
    std::lock_guard lock(g_rfb_mutex);
    peers.assign(g_rfb_peers.begin(), g_rfb_peers.end());
  }
  std::vector<std::uint8_t> msg(8 + text.size());
  msg[0] = 3;  // ServerCutText
  put32(&msg[4], static_cast<std::uint32_t>(text.size()));
  std::memcpy(&msg[8], text.data(), text.size());
  for (const auto& p : peers) {
    std::lock_guard lock(p->write);
    send_all(p->fd, msg.data(), msg.size());
  }
}

void serve_rfb(int fd) {
  char version[12];
  if (!send_all(fd, "RFB 003.008\n", 12) || !recv_all(fd, version, 12)) return ::close(fd), void();
  const std::uint8_t security[] = {1, 1};  // one type: None
  std::uint8_t chosen, shared;
  const std::uint8_t ok[4] = {0, 0, 0, 0};
  if (!send_all(fd, security, 2) || !recv_all(fd, &chosen, 1) || !send_all(fd, ok, 4) || !recv_all(fd, &shared, 1))
    return ::close(fd), void();
  const char name[] = "fake-rfb";
  std::uint8_t init[24 + sizeof(name) - 1] = {};
  put16(&init[0], kWidth);
  put16(&init[2], kHeight);
  init[4] = 32; init[5] = 24; init[6] = 0; init[7] = 1;  // bpp, depth, little-endian, true colour
  put16(&init[8], 255); put16(&init[10], 255); put16(&init[12], 255);
  init[14] = 16; init[15] = 8; init[16] = 0;
  put32(&init[20], sizeof(name) - 1);
  std::memcpy(&init[24], name, sizeof(name) - 1);
  if (!send_all(fd, init, sizeof(init))) return ::close(fd), void();

  const auto& frame = frame_message();
  auto peer = std::make_shared<RfbPeer>();
  peer->fd = fd;
  {
    std::lock_guard lock(g_rfb_mutex);
    g_rfb_peers.insert(peer);
  }
  auto send_frame = [&] {
    std::lock_guard lock(peer->write);
    return send_all(fd, frame.data(), frame.size());
  };
  for (;;) {
    std::uint8_t type;
    if (!recv_all(fd, &type, 1)) break;
    std::uint8_t buf[20];
    bool alive = true;
    switch (type) {
      case 0: alive = recv_all(fd, buf, 19); break;  // SetPixelFormat (ignored: always 32bpp)
      case 2: {                                      // SetEncodings
        alive = recv_all(fd, buf, 3);
        std::vector<std::uint8_t> enc(std::size_t{4} * ((buf[1] << 8) | buf[2]));
        alive = alive && recv_all(fd, enc.data(), enc.size());
        break;
      }
      case 3: alive = recv_all(fd, buf, 9) && send_frame(); break;
      case 4:  // KeyEvent: reported to every client
        alive = recv_all(fd, buf, 7);
        if (alive) {
          char text[64];
          std::snprintf(text, sizeof(text), "key %x %s", (std::uint32_t{buf[3]} << 24) | (buf[4] << 16) | (buf[5] << 8) | buf[6],
                        buf[0] ? "down" : "up");
          report_to_all(text);
        }
        break;
      case 5: alive = recv_all(fd, buf, 5); break;  // PointerEvent
      case 6: {                                     // ClientCutText
        alive = recv_all(fd, buf, 7);
        std::vector<std::uint8_t> text((std::uint32_t{buf[3]} << 24) | (buf[4] << 16) | (buf[5] << 8) | buf[6]);
        alive = alive && recv_all(fd, text.data(), text.size());
        break;
      }
      default: alive = false;
    }
    if (!alive) break;
  }
  {
    std::lock_guard lock(g_rfb_mutex);
    g_rfb_peers.erase(peer);
  }
  std::lock_guard lock(peer->write);
  ::close(fd);
}

// A 1x1 PNG (valid signature, IHDR, IDAT, IEND with correct CRCs).
const unsigned char kTinyPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
    0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0xf8, 0x0f, 0x00, 0x01, 0x04, 0x01, 0x00,
    0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

// Splits a byte stream into top-level JSON objects (QMP does not require newlines).
std::size_t find_object_end(const std::string& s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

void serve_qmp(int fd) {
  using json = nlohmann::json;
  {
    std::lock_guard lock(g_fds_mutex);
    g_qmp_clients.insert(fd);
  }
  auto send_json = [fd](const json& j) { return send_all(fd, (j.dump() + "\r\n").data(), j.dump().size() + 2); };
  send_json({{"QMP", {{"version", {{"qemu", {{"major", 7}, {"minor", 2}, {"micro", 0}}}, {"package", "fake"}}},
                      {"capabilities", json::array()}}}});
  std::string pending;
  std::deque<int> received;  // SCM_RIGHTS descriptors, taken by getfd / add-fd in order
  std::vector<std::string> jobs;  // backup jobs not yet dismissed
  char buf[4096];
  for (;;) {
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) break;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        received.push_back(got);
      }
    }
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t end; (end = find_object_end(pending)) != std::string::npos;) {
      json cmd = json::parse(pending.substr(0, end), nullptr, false);
      pending.erase(0, end);
      if (cmd.is_discarded()) continue;
      const std::string name = cmd.value("execute", "");
      json reply = {{"return", json::object()}};
      bool exit_after = false;
      if (name == "query-status") {
        reply["return"] = {{"status", "running"}, {"running", true}, {"singlestep", false}};
      } else if (name == "screendump") {
        const std::string file = cmd["arguments"].value("filename", "/dev/null");
        if (file.rfind("/dev/fdset/", 0) == 0) {
          std::lock_guard lock(g_fds_mutex);
          auto it = g_fdsets.find(std::stoll(file.substr(11)));
          if (it == g_fdsets.end() || ::ftruncate(it->second, 0) != 0 ||
              ::pwrite(it->second, kTinyPng, sizeof(kTinyPng), 0) != static_cast<ssize_t>(sizeof(kTinyPng)))
            reply = {{"error", {{"class", "GenericError"}, {"desc", "cannot write the screendump"}}}};
        } else {
          std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(kTinyPng), sizeof(kTinyPng));
        }
      } else if (name == "getfd" || name == "add-fd") {
        if (received.empty()) {
          reply = {{"error", {{"class", "GenericError"}, {"desc", "No file descriptor supplied via SCM_RIGHTS"}}}};
        } else {
          std::lock_guard lock(g_fds_mutex);
          const int got = received.front();
          received.pop_front();
          if (name == "getfd") {
            g_named_fds[cmd["arguments"].value("fdname", "")] = got;
          } else {
            const auto id = g_next_fdset++;
            g_fdsets[id] = got;
            reply["return"] = {{"fdset-id", id}, {"fd", got}};
          }
        }
      } else if (name == "closefd" || name == "add_client") {
        std::lock_guard lock(g_fds_mutex);
        auto it = g_named_fds.find(cmd["arguments"].value("fdname", ""));
        if (it == g_named_fds.end()) {
          reply = {{"error", {{"class", "GenericError"}, {"desc", "File descriptor named not found"}}}};
        } else {
          if (name == "add_client") std::thread(serve_rfb, it->second).detach();
          else ::close(it->second);
          g_named_fds.erase(it);
        }
      } else if (name == "remove-fd") {
        std::lock_guard lock(g_fds_mutex);
        auto it = g_fdsets.find(cmd["arguments"].value("fdset-id", std::int64_t{-1}));
        if (it != g_fdsets.end()) {
          ::close(it->second);
          g_fdsets.erase(it);
        }
      } else if (name == "query-named-block-nodes") {
        // Enough for snapshots (disk_backup.cpp): the disk's size, a backup job that concludes
        // at once, node add/del accepted. The target stays the blank qcow2 qemu-img made.
        reply["return"] = json::array({{{"node-name", "disk0"}, {"image", {{"virtual-size", 16 << 20}}}}});
      } else if (name == "blockdev-backup") {
        jobs.push_back(cmd["arguments"].value("job-id", ""));
      } else if (name == "query-jobs") {
        reply["return"] = json::array();
        for (const auto& id : jobs)
          reply["return"].push_back({{"id", id}, {"type", "backup"}, {"status", "concluded"},
                                     {"current-progress", 1}, {"total-progress", 1}});
      } else if (name == "job-dismiss") {
        std::erase(jobs, cmd["arguments"].value("id", ""));
      } else if (name == "device_add" || name == "device_del") {
        // USB sticks (vm/usb_drop_monitor.cpp): plugged devices are listed by qom-list.
        const std::string id = cmd["arguments"].value("id", "");
        std::lock_guard lock(g_fds_mutex);
        if (name == "device_add") g_devices.insert(id);
        else if (!g_devices.erase(id)) reply = {{"error", {{"class", "DeviceNotFound"}, {"desc", "Device '" + id + "' not found"}}}};
      } else if (name == "qom-list") {
        reply["return"] = json::array({{{"name", "type"}, {"type", "string"}}});
        std::lock_guard lock(g_fds_mutex);
        for (const auto& id : g_devices) reply["return"].push_back({{"name", id}, {"type", "child<usb-storage>"}});
      } else if (name == "system_reset" || name == "blockdev-add" || name == "blockdev-del" || name == "job-cancel") {
        // accepted, nothing to do
      } else if (name == "quit" || name == "system_powerdown") {
        exit_after = true;
      } else if (name != "qmp_capabilities") {
        reply = {{"error", {{"class", "CommandNotFound"}, {"desc", "The command " + name + " has not been found"}}}};
      }
      if (cmd.contains("id")) reply["id"] = cmd["id"];
      send_json(reply);
      if (exit_after) {
        send_json({{"event", name == "quit" ? "SHUTDOWN" : "POWERDOWN"},
                   {"timestamp", {{"seconds", 0}, {"microseconds", 0}}},
                   {"data", {{"guest", name != "quit"}, {"reason", name == "quit" ? "host-qmp-quit" : "guest-shutdown"}}}});
        cleanup_and_exit(0);
      }
    }
  }
  {
    std::lock_guard lock(g_fds_mutex);
    g_qmp_clients.erase(fd);
  }
  ::close(fd);
}

void accept_loop(int listen_fd, void (*serve)(int)) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (fd < 0) return;  // shut down
    std::thread(serve, fd).detach();
  }
}

std::string unix_path(const std::string& value) {  // "unix:<path>[,opts]"
  if (value.rfind("unix:", 0) != 0) return {};
  return value.substr(5, value.find(',') == std::string::npos ? std::string::npos : value.find(',') - 5);
}

}  // namespace

int main(int argc, char** argv) {
  bool vnc_none = false;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-vnc") {
      std::string value = argv[++i];
      vnc_none = value == "none";
      g_vnc_path = unix_path(value);
    } else if (arg == "-qmp") {
      g_qmp_path = unix_path(argv[++i]);
    } else if (arg == "-chardev") {  // socket,id=qmp,fd=N,server=on,...: a listener we inherited
      std::string value = argv[++i];
      auto at = value.find(",fd=");
      if (value.rfind("socket,", 0) == 0 && at != std::string::npos) g_qmp_fd = std::atoi(value.c_str() + at + 4);
    }
  }
  if (g_vnc_path.empty() && !vnc_none) {
    std::fprintf(stderr, "usage: fake_rfb_qemu -vnc unix:<path>|none [-qmp unix:<path>,server=on,wait=off | "
                         "-chardev socket,id=qmp,fd=N,server=on] ...\n");
    return 2;
  }
  // Signals are taken synchronously by main; the serving threads never see them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  frame_message();  // build before listening, so the first request is answered at once

  if (!g_vnc_path.empty()) std::thread(accept_loop, listen_unix(g_vnc_path), &serve_rfb).detach();
  if (!g_qmp_path.empty()) std::thread(accept_loop, listen_unix(g_qmp_path), &serve_qmp).detach();
  if (g_qmp_fd >= 0) {
    ::listen(g_qmp_fd, 1);  // as QEMU does: SO_PEERCRED of our clients then names this process
    g_qmp_listener = g_qmp_fd;
    std::thread(accept_loop, g_qmp_fd, &serve_qmp).detach();
  }
  // SIGUSR1: the monitor connection breaks while the VM runs on; SIGUSR2: and it stays broken.
  for (int sig = 0;;) {
    sigwait(&set, &sig);
    if (sig != SIGUSR1 && sig != SIGUSR2) break;
    std::lock_guard lock(g_fds_mutex);
    if (sig == SIGUSR2 && g_qmp_listener >= 0) ::shutdown(g_qmp_listener, SHUT_RDWR);
    for (int client : g_qmp_clients) ::shutdown(client, SHUT_RDWR);
  }
  cleanup_and_exit(0);
}
