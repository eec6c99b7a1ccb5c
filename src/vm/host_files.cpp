#include "vm/host_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <cstring>

#include "vm/errors.h"

namespace vmshare::vm {
namespace {

[[noreturn]] void fail(const char* what, int err) {
  throw VmError(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

std::string resolve_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return std::filesystem::absolute(candidate).string();
  }
  return name;
}

void make_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) fail("cannot create the VM's folder", errno);
}

UniqueFd open_regular(const std::string& path, bool writable) {
  UniqueFd fd(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) fail("cannot open a disk image", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("cannot read a disk image", errno);
  if (!S_ISREG(st.st_mode)) throw VmError("a disk image is not a regular file");
  return fd;
}

UniqueFd create_exclusive(const std::string& path, int extra_flags) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra_flags, 0600));
  if (!fd) fail("cannot create a file for the VM", errno);
  return fd;
}

UniqueFd listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) throw VmError("the VM's monitor path is too long (VMSHARE_DATA_DIR)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) fail("cannot create the VM's monitor socket", errno);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fail("cannot bind the VM's monitor socket", errno);
  if (::listen(fd.get(), 4) != 0) fail("cannot listen on the VM's monitor socket", errno);
  return fd;
}

std::string read_capped(int fd, std::size_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot read the VM's output", errno);
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > max_bytes) throw VmError("the VM's output is too large");
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read the VM's output", errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::string tail_of_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  const off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - static_cast<off_t>(max_bytes) : 0;
  std::string out(static_cast<std::size_t>(st.st_size - start), '\0');
  ssize_t n = ::pread(fd.get(), out.data(), out.size(), start);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (start > 0) {
    auto nl = out.find('\n');
    out.erase(0, nl == std::string::npos ? 0 : nl + 1);
  }
  return out;
}

bool kill_all_of_uid(uid_t uid) {
  if (uid == 0 || uid == ::getuid() || uid == ::geteuid()) return false;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // Raw system calls: after fork in a threaded process only async-signal-safe calls are
    // allowed, and glibc's set*id wrappers synchronise threads that do not exist here.
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, uid, uid, uid) != 0 ||
        ::syscall(SYS_setresuid, uid, uid, uid) != 0)
      ::_exit(2);
    ::kill(-1, SIGKILL);  // every process this uid may signal: exactly the ones running as it
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace vmshare::vm
