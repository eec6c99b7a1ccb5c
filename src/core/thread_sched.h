#pragma once
// Scheduling hint for the threads that serve requests (HTTP I/O threads and handler workers).
#include <chrono>

namespace vmshare {

// They run ~0.05 to 0.2 ms per wake-up, so they ask EEVDF (Linux 6.12+) for its shortest slice.
inline constexpr std::chrono::microseconds kRequestThreadSlice{100};

// Asks for `slice` as the calling thread's scheduler slice (sched_attr.sched_runtime with
// SCHED_OTHER/SCHED_BATCH; the policy and nice value stay). With a slice shorter than the
// running thread's, a request thread that wakes up preempts it (bcrypt, a compiler, a guest)
// instead of waiting for that thread's slice to end or for the next tick: /me p99 during 8
// logins 6.0 -> 4.2 ms in docs/benchmarks.md. Also sets reset-on-fork, so neither threads nor
// processes this thread creates (QEMU, spawned from handlers) inherit it; they get the default
// slice. Unprivileged. Returns false when the kernel refused (older kernels accept and ignore
// the slice) or the thread runs another policy (SCHED_IDLE, real-time), which it leaves alone.
bool request_short_slice(std::chrono::nanoseconds slice = kRequestThreadSlice);

// The same, once per thread (cheap after the first call): for threads the caller does not
// create itself, e.g. a thread pool's.
void ensure_request_slice();

// The calling thread's slice in ns as the kernel reports it (sched_attr.sched_runtime; 0 where
// the kernel has no per-task slice), and whether reset-on-fork is set. For tests.
struct ThreadSlice {
  unsigned long long runtime_ns = 0;
  bool reset_on_fork = false;
};
ThreadSlice current_thread_slice();

}  // namespace vmshare
