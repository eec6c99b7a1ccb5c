#include "vm/run_command.h"
#include "vm/child_env.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "vm/process.h"


namespace vmshare::vm {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw ProcessError(fmt::format("pipe: {}", std::strerror(errno)));
  r.fd = p[0];
  w.fd = p[1];
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const RunOptions& opt) {
  if (argv.empty()) throw ProcessError("run_command: empty argv");
  Fd out_r, out_w, err_r, err_w;
  make_pipe(out_r, out_w);
  make_pipe(err_r, err_w);
  Fd passed;
  if (opt.pass_fd >= 0) {
    passed.fd = ::fcntl(opt.pass_fd, F_DUPFD_CLOEXEC, 4);
    if (passed.fd < 0) throw ProcessError(fmt::format("run_command: passing a descriptor: {}", std::strerror(errno)));
  }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);  // dup2 clears O_CLOEXEC on the copy
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  // The passed descriptor is copied above 3 first, so the dup2 onto 3 cannot clobber a pipe end
  // still to be moved (those went to 1 and 2 above).
  if (passed.fd >= 0) posix_spawn_file_actions_adddup2(&fa, passed.fd, 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, opt.pass_fd >= 0 ? 4 : 3);
  if (!opt.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opt.cwd.c_str());
  auto env = child_environment();
  env.insert(env.end(), opt.extra_env.begin(), opt.extra_env.end());
  auto envp = envp_of(env);
  std::vector<char*> cargv;
  for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw ProcessError(fmt::format("cannot start {}: {}", argv[0], std::strerror(rc)));
  out_w.close();
  err_w.close();
  passed.close();

  Fd pidfd;
  pidfd.fd = pidfd_open(pid);  // our unreaped child: exact until waitpid below

  CommandResult res;
  auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  std::array<char, 8192> buf;
  // Drain both pipes until EOF on both (the child and anything it forked closed them).
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      break;
    }
    pollfd p[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};  // fd -1 is ignored by poll
    int n = ::poll(p, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    Fd* fds[2] = {&out_r, &err_r};
    std::string* dst[2] = {&res.out, &res.err};
    for (int i = 0; i < 2; ++i) {
      if (fds[i]->fd < 0 || p[i].revents == 0) continue;
      ssize_t r = ::read(fds[i]->fd, buf.data(), buf.size());
      if (r > 0) {
        std::size_t room = opt.max_output > dst[i]->size() ? opt.max_output - dst[i]->size() : 0;
        dst[i]->append(buf.data(), std::min<std::size_t>(room, static_cast<std::size_t>(r)));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i]->close();
      }
    }
  }

  if (res.timed_out) {
    if (pidfd.fd >= 0)
      signal_exact(pidfd.fd, SIGKILL);
    else
      ::kill(pid, SIGKILL);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  auto es = exit_status_from_wait(st);
  res.exit_code = es.term_signal > 0 ? -1 : es.exit_code;
  res.term_signal = es.term_signal;
  return res;
}

}  // namespace vmshare::vm
