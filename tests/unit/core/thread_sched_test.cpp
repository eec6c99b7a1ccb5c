#include "core/thread_sched.h"

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

namespace vmshare {
namespace {

int own_nice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

// Each test runs in a thread of its own, so the test runner's thread keeps its attributes.
template <class F>
void in_thread(F f) {
  std::thread(f).join();
}

TEST(ThreadSched, ShortSliceKeepsNiceAndIsNotInherited) {
  in_thread([] {
    const ThreadSlice before = current_thread_slice();
    if (before.runtime_ns == 0) GTEST_SKIP() << "kernel without per-task slices (before Linux 6.12)";
    ASSERT_EQ(setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 3), 0);
    ASSERT_TRUE(request_short_slice());
    const ThreadSlice after = current_thread_slice();
    EXPECT_EQ(after.runtime_ns, 100'000u);
    EXPECT_TRUE(after.reset_on_fork);
    EXPECT_EQ(own_nice(), 3);
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER | SCHED_RESET_ON_FORK);
    // Asking again (the policy now carries the reset-on-fork bit) works too.
    EXPECT_TRUE(request_short_slice(std::chrono::microseconds(200)));
    EXPECT_EQ(current_thread_slice().runtime_ns, 200'000u);
    // Threads (and processes) it creates start from the default slice again.
    ThreadSlice child;
    std::thread([&] { child = current_thread_slice(); }).join();
    EXPECT_EQ(child.runtime_ns, before.runtime_ns);
    EXPECT_FALSE(child.reset_on_fork);
  });
}

TEST(ThreadSched, EnsureSetsItOncePerThread) {
  in_thread([] {
    if (current_thread_slice().runtime_ns == 0) GTEST_SKIP() << "kernel without per-task slices";
    ensure_request_slice();
    ensure_request_slice();
    EXPECT_EQ(current_thread_slice().runtime_ns, kRequestThreadSlice.count() * 1000u);
  });
}

TEST(ThreadSched, OtherPoliciesAreLeftAlone) {
  in_thread([] {
    sched_param p{};
    ASSERT_EQ(sched_setscheduler(0, SCHED_IDLE, &p), 0);
    EXPECT_FALSE(request_short_slice());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
  });
}

}  // namespace
}  // namespace vmshare
