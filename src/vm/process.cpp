#include "vm/process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <csignal>
#include <cstring>

#include "vm/child_env.h"

namespace vmshare::vm {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// RAII for posix_spawn's two attribute objects.
struct SpawnAttrs {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnAttrs() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

std::string ExitStatus::describe() const {
  if (!known) return "unknown";
  if (term_signal > 0) return fmt::format("killed by signal {} ({})", term_signal, strsignal(term_signal));
  return fmt::format("exit code {}", exit_code);
}

ExitStatus exit_status_from_wait(int wstatus) {
  ExitStatus s;
  s.known = true;
  if (WIFEXITED(wstatus)) s.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) s.term_signal = WTERMSIG(wstatus);
  return s;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool signal_exact(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
  if (errno == ESRCH) return false;
  throw ProcessError(fmt::format("pidfd_send_signal: {}", errno_text(errno)));
}

Process::~Process() { reset(); }

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), pidfd_(o.pidfd_), child_(o.child_), reaped_(o.reaped_) {
  o.pid_ = -1;
  o.pidfd_ = -1;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    reset();
    pid_ = o.pid_;
    pidfd_ = o.pidfd_;
    child_ = o.child_;
    reaped_ = o.reaped_;
    o.pid_ = -1;
    o.pidfd_ = -1;
  }
  return *this;
}

// Closing the handle neither kills nor reaps: an unreaped child stays a zombie until someone
// waits for it, which is the owner's job (VMs outlive handles by design).
void Process::reset() {
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
}

namespace {

// Passed descriptors are first copied above every target number, so that moving one into place
// (dup2) can never overwrite another that is still to be moved; the copies die at closefrom.
struct StagedFds {
  std::vector<int> copies;
  ~StagedFds() {
    for (int fd : copies) ::close(fd);
  }
};

int add_fd_actions(posix_spawn_file_actions_t* actions, const SpawnOptions& o, StagedFds& staged) {
  int highest = 2;
  for (const auto& p : o.pass_fds) {
    if (p.source < 0 || p.target < 3) throw ProcessError("spawn: passed descriptors must target 3 or above");
    highest = std::max(highest, p.target);
  }
  for (const auto& p : o.pass_fds) {
    int copy = ::fcntl(p.source, F_DUPFD_CLOEXEC, highest + 1);
    if (copy < 0) throw ProcessError(fmt::format("spawn: passing a descriptor: {}", errno_text(errno)));
    staged.copies.push_back(copy);
  }
  int rc = 0;
  for (std::size_t i = 0; i < o.pass_fds.size() && rc == 0; ++i)
    rc = posix_spawn_file_actions_adddup2(actions, staged.copies[i], o.pass_fds[i].target);  // clears CLOEXEC
  // Whatever fds the daemon holds (sockets, database connections) must not leak into QEMU,
  // whether or not their owner remembered O_CLOEXEC.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(actions, highest + 1);
  return rc;
}

}  // namespace

Process Process::spawn(const SpawnOptions& o) {
  if (o.argv.empty()) throw ProcessError("spawn: empty argv");
  SpawnAttrs sa;
  StagedFds staged;
  int rc = posix_spawn_file_actions_addopen(&sa.actions, 0, "/dev/null", O_RDONLY, 0);
  const char* out = o.log_path.empty() ? "/dev/null" : o.log_path.c_str();
  if (rc == 0 && o.output_fd >= 0) rc = posix_spawn_file_actions_adddup2(&sa.actions, o.output_fd, 1);
  else if (rc == 0) rc = posix_spawn_file_actions_addopen(&sa.actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&sa.actions, 1, 2);
  // No working directory of vmshare's (it may be the data folder) is left to the child.
  if (rc == 0) rc = posix_spawn_file_actions_addchdir_np(&sa.actions, "/");
  if (rc == 0) rc = add_fd_actions(&sa.actions, o, staged);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (o.new_process_group) flags |= POSIX_SPAWN_SETPGROUP;
  if (rc == 0) rc = posix_spawnattr_setflags(&sa.attr, flags);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&sa.attr, 0);
  // Children start with an empty mask and default handlers, whatever the daemon blocked.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&sa.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&sa.attr, &all);
  if (rc != 0) throw ProcessError(fmt::format("spawn: setting up: {}", errno_text(rc)));

  std::vector<char*> argv;
  for (const auto& s : o.argv) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  auto envp = envp_of(o.env.empty() ? child_environment() : o.env);

  pid_t pid = -1;
  rc = posix_spawnp(&pid, argv[0], &sa.actions, &sa.attr, argv.data(), envp.data());
  if (rc != 0) throw ProcessError(fmt::format("cannot start {}: {}", o.argv[0], errno_text(rc)));

  int fd = pidfd_open(pid);
  if (fd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);  // still our unreaped child: the pid is exact
    ::waitpid(pid, nullptr, 0);
    throw ProcessError(fmt::format("pidfd_open: {}", errno_text(err)));
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfd_open sets it; be explicit
  spdlog::debug("spawned {} as pid {}", o.argv[0], pid);
  return Process(pid, fd, true);
}

Process Process::adopt(pid_t pid) {
  if (pid <= 0) throw ProcessError("adopt: invalid pid");
  int fd = pidfd_open(pid);
  if (fd < 0) throw ProcessError(fmt::format("adopt pid {}: {}", pid, errno_text(errno)));
  // If the daemon restarted in place (exec), a former child is still our child.
  siginfo_t info{};
  bool child = ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
  return Process(pid, fd, child);
}

bool Process::signal(int sig) const {
  if (pidfd_ < 0) throw ProcessError("signal: no process");
  return signal_exact(pidfd_, sig);
}

bool Process::signal_group(int sig) const {
  if (!child_ || reaped_) return false;
  if (::kill(-pid_, sig) == 0) return true;
  if (errno == ESRCH) return false;
  throw ProcessError(fmt::format("kill process group {}: {}", pid_, errno_text(errno)));
}

std::optional<ExitStatus> Process::try_wait() {
  if (reaped_) return reaped_;
  if (pidfd_ < 0) throw ProcessError("wait: no process");
  if (child_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) return reaped_ = exit_status_from_wait(st);
    if (r == 0) return std::nullopt;
    if (errno != ECHILD) throw ProcessError(fmt::format("waitpid: {}", errno_text(errno)));
    child_ = false;  // reaped elsewhere: fall through to the pidfd check
  }
  pollfd p{pidfd_, POLLIN, 0};
  if (::poll(&p, 1, 0) == 1) return reaped_ = ExitStatus{};  // exited, status not ours to read
  return std::nullopt;
}

std::optional<ExitStatus> Process::wait_for(std::chrono::milliseconds timeout) {
  if (reaped_) return reaped_;
  if (pidfd_ < 0) throw ProcessError("wait: no process");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw ProcessError(fmt::format("poll: {}", errno_text(errno)));
    if (r == 1) return try_wait();
    return std::nullopt;
  }
}

}  // namespace vmshare::vm
