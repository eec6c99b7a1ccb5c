#include "core/thread_sched.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace vmshare {
namespace {

// struct sched_attr (include/uapi/linux/sched/types.h), first version: glibc before 2.41 has no
// wrapper, and the kernel header clashes with glibc's struct sched_param.
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
};
constexpr std::uint64_t kResetOnFork = 0x01;  // SCHED_FLAG_RESET_ON_FORK

}  // namespace

bool request_short_slice(std::chrono::nanoseconds slice) {
  const int policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
  if (policy != SCHED_OTHER && policy != SCHED_BATCH) return false;
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  if (errno != 0) return false;
  SchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = static_cast<std::uint32_t>(policy);
  attr.sched_flags = kResetOnFork;
  attr.sched_nice = nice;
  attr.sched_runtime = static_cast<std::uint64_t>(slice.count());
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0;
}

void ensure_request_slice() {
  thread_local const bool done = (request_short_slice(), true);
  (void)done;
}

ThreadSlice current_thread_slice() {
  SchedAttr attr{};
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return {};
  return {static_cast<unsigned long long>(attr.sched_runtime), (attr.sched_flags & kResetOnFork) != 0};
}

}  // namespace vmshare
