#pragma once
// Child processes without a shell, addressed through pidfds so that a signal can only ever
// reach the exact process we mean (never a recycled pid).
//
// A Process owns a pidfd. For our own children (spawn) the pid cannot be recycled until we
// reap it, so the pidfd is exact. After a daemon restart, adopt() opens a pidfd for a pid we
// saved; the caller must check it is still the same program (e.g. /proc/<pid>/cmdline) first.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

// A descriptor the child inherits: vmshare's `source` appears in the child as `target` (>= 3).
struct PassedFd {
  int source = -1;
  int target = -1;
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::string log_path;           // stdout+stderr appended here (created 0600); empty: /dev/null
  bool new_process_group = true;  // so terminal signals to the daemon do not hit the child
  // Takes precedence over log_path: stdout+stderr go to this descriptor (vmshare opened it).
  int output_fd = -1;
  // Every other descriptor is closed in the child; these are the only ones it gets.
  std::vector<PassedFd> pass_fds;
  // The child's whole environment; empty: child_environment() (never vmshare's own).
  std::vector<std::string> env;
};

// How a process ended. For adopted (non-child) processes the status cannot be read: known=false.
struct ExitStatus {
  bool known = false;
  int exit_code = -1;    // >= 0 when it exited normally
  int term_signal = 0;   // > 0 when a signal killed it
  std::string describe() const;  // "exit code 0", "killed by signal 9 (Killed)", "unknown"
};

// Move-only handle. Destroying it closes the pidfd but neither kills nor reaps: reap children
// with try_wait/wait_for or an ExitWatcher, or they linger as zombies.
// Not thread-safe, except signal()/signal_group(), which only read.
class Process {
 public:
  Process() = default;
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // posix_spawn with close-on-exec hygiene (every fd above 2 closed in the child but the passed
  // ones), stdin from /dev/null, cwd "/", an allowlisted environment (child_env.h).
  // Throws ProcessError (exec failures included, e.g. binary not found).
  static Process spawn(const SpawnOptions& options);
  // Opens a pidfd for a running process that is not (or no longer) our child.
  // Throws ProcessError when no such process exists.
  static Process adopt(pid_t pid);

  bool valid() const { return pidfd_ >= 0; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }  // owned; dup() it to hand to something that closes it
  bool is_child() const { return child_; }

  // Sends `sig` to exactly this process (pidfd_send_signal). Returns false when it has already
  // exited; throws ProcessError on other failures.
  bool signal(int sig) const;
  // Sends `sig` to the process group this child leads (spawned with new_process_group).
  // Only for children we have not reaped yet, so the group id cannot have been recycled.
  bool signal_group(int sig) const;

  // Non-blocking: the status if it has exited (reaping it when it is our child).
  std::optional<ExitStatus> try_wait();
  // Blocks up to `timeout` (poll on the pidfd); nullopt on timeout. Do not call on an io thread.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);

 private:
  Process(pid_t pid, int pidfd, bool child) : pid_(pid), pidfd_(pidfd), child_(child) {}
  void reset();
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool child_ = false;
  std::optional<ExitStatus> reaped_;  // waitpid can only succeed once; remember the answer
};

// pidfd_open(2) via syscall (glibc 2.36 has no wrapper everywhere). Returns -1 and sets errno.
int pidfd_open(pid_t pid);
// pidfd_send_signal(2): signals exactly the process behind `pidfd`. Returns false on ESRCH
// (already exited); throws ProcessError otherwise.
bool signal_exact(int pidfd, int sig);

// Reads a waitpid() status word.
ExitStatus exit_status_from_wait(int wstatus);

}  // namespace vmshare::vm
