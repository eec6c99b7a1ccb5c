#pragma once
// Blocking "run a tool and collect its output" for short-lived helpers such as qemu-img.
// Call from worker threads only: it blocks up to `timeout`.
#include <chrono>
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

struct CommandResult {
  int exit_code = -1;    // -1 when killed by a signal
  int term_signal = 0;   // the signal that ended it, if any
  bool timed_out = false;
  std::string out;       // stdout, at most max_output bytes (the rest is discarded)
  std::string err;       // stderr, likewise
  bool ok() const { return !timed_out && exit_code == 0; }
};

struct RunOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::size_t max_output = 4 << 20;  // per stream
  std::vector<std::string> extra_env;  // "KEY=VALUE" added to child_environment() (tool settings only)
  int pass_fd = -1;  // when set, the child gets (a copy of) it as fd 3, its only descriptor above stdio
  std::string cwd;   // the child's working directory; empty: vmshare's
};

// Spawns argv (no shell), reads stdout/stderr, and on timeout kills it (SIGKILL through its
// pidfd) and reaps it, returning timed_out=true. A non-zero exit is not an exception;
// failing to start is (ProcessError).
CommandResult run_command(const std::vector<std::string>& argv, const RunOptions& options = {});

inline CommandResult run_command(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
  RunOptions o;
  o.timeout = timeout;
  return run_command(argv, o);
}

}  // namespace vmshare::vm
