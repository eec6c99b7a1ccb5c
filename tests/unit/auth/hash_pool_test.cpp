#include <gtest/gtest.h>

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "auth/password_hasher.h"

namespace vmshare::auth {
namespace {

// Nice values of this process's threads, from /proc/self/task/<tid>/stat (field 19).
// One flag per thread of this process: true when it runs below normal priority, either at
// SCHED_IDLE (stat field 41, policy 5) or with a nice value of 10 or more (field 19).
int own_nice() {
  errno = 0;
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
}

// Nice value of one thread of this process (field 19 of its stat line).
int nice_of(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), {});
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> fields;  // fields[0] is field 3
  for (std::string field; rest >> field;) fields.push_back(field);
  return std::stoi(fields.at(19 - 3));
}

// Waits (up to a minute: a liveness cap, not a timing assertion) until pred() holds.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 6000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::vector<int> thread_nice_values() {
  std::vector<int> out;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), {});
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    std::vector<std::string> fields;  // fields[0] is field 3
    for (std::string field; rest >> field;) fields.push_back(field);
    if (fields.size() < 39) continue;
    const int nice = std::stoi(fields[19 - 3]);
    const int policy = std::stoi(fields[41 - 3]);
    out.push_back(policy == SCHED_IDLE ? 19 : nice);
  }
  closedir(dir);
  return out;
}

TEST(HashPool, HashesAndVerifiesOnPoolThreads) {
  HashPool pool(2);
  const std::string h = pool.run_hash("secret", 4);
  EXPECT_TRUE(pool.run_verify("secret", h));
  EXPECT_FALSE(pool.run_verify("other", h));
  EXPECT_FALSE(pool.run_verify("secret", "not a hash"));
}

TEST(HashPool, ExceptionsReachTheCaller) {
  HashPool pool(1);
  EXPECT_THROW(pool.run_hash(std::string(73, 'x'), 4), std::invalid_argument);
  EXPECT_THROW(pool.run_hash("x", 2), std::invalid_argument);
  EXPECT_TRUE(pool.run_verify("x", pool.run_hash("x", 4)));  // pool still works afterwards
}

TEST(HashPool, ZeroThreadsLeavesOneCoreFree) {
  HashPool pool(0);
  EXPECT_EQ(pool.concurrency(), default_hash_threads(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_TRUE(pool.run_verify("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
}

TEST(HashPool, ManyConcurrentCallers) {
  HashPool pool(2);
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      const std::string pw = "pw" + std::to_string(i);
      const std::string h = pool.run_hash(pw, 4);
      if (pool.run_verify(pw, h) && !pool.run_verify(pw + "!", h)) ++ok;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 8);
}

TEST(HashPool, PoolThreadsRunAtLowerPriority) {
  errno = 0;
  const int caller_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  // Pool threads sit at the low level; other new threads (the pool's monitor) inherit the
  // caller's nice, which is 10 already when the suite itself runs under `nice`.
  const int low_nice = hash_nice_levels(caller_nice).low;
  const auto before = thread_nice_values();
  int low_before = 0;
  for (int n : before) low_before += n >= low_nice;
  HashPool pool(3);
  pool.run_verify("x", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
  // Threads lower their priority on start; give the ones that have not run a job a moment.
  int low = 0;
  for (int tries = 0; tries < 100; ++tries) {
    low = 0;
    for (int n : thread_nice_values()) low += n >= low_nice;
    if (low - low_before >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(low - low_before, 4);  // three at once, and the thread for one more while one is overdue
  // Only pool threads change: the caller keeps its own priority.
  errno = 0;
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), caller_nice);
}

TEST(HashPool, AJobRunningPastTheLimitIsRaisedThenLoweredAgain) {
  const HashNice levels = hash_nice_levels(own_nice());
  HashPool pool(1, std::chrono::milliseconds(0));  // every job is due as soon as it starts
  if (!pool.can_boost()) GTEST_SKIP() << "no CAP_SYS_NICE and RLIMIT_NICE too low: jobs cannot be raised";
  pid_t tid = 0;
  bool raised = false;
  // The job holds its thread until the monitor has raised it, so the outcome does not depend
  // on how fast anything runs.
  pool.run([&] {
    tid = gettid();
    raised = eventually([&] { return own_nice() == levels.boosted; });
  });
  EXPECT_TRUE(raised);
  EXPECT_EQ(pool.overdue_jobs(), 1u);
  // Counted just after the raise, which the job may see first.
  EXPECT_TRUE(eventually([&] { return pool.boosted_jobs() == 1u; }));
  // Once the job is over its thread goes back down, before it takes another job.
  EXPECT_TRUE(eventually([&] { return nice_of(tid) == levels.low; }));
}

TEST(HashPool, ShortJobsStayLow) {
  const HashNice levels = hash_nice_levels(own_nice());
  HashPool pool(2, std::chrono::hours(1));
  int seen = 0;
  pool.run([&] { seen = own_nice(); });
  EXPECT_EQ(seen, levels.low);
  EXPECT_TRUE(pool.run_verify("x", pool.run_hash("x", 4)));
  EXPECT_EQ(pool.overdue_jobs(), 0u);
  EXPECT_EQ(pool.boosted_jobs(), 0u);
}

// Job A holds the only regular slot until job B has run; B can only start beside it because A
// is overdue. Returns whether B ran while A was still running.
bool second_job_starts_beside_an_overdue_one(HashPool& pool) {
  std::atomic<bool> b_ran{false};
  std::atomic<bool> a_started{false};
  bool b_ran_during_a = false;
  std::thread a([&] {
    pool.run([&] {
      a_started = true;
      b_ran_during_a = eventually([&] { return b_ran.load(); });
    });
  });
  EXPECT_TRUE(eventually([&] { return a_started.load(); }));
  pool.run([&] { b_ran = true; });
  a.join();
  return b_ran_during_a;
}

TEST(HashPool, OneMoreJobStartsBesideAnOverdueOne) {
  HashPool pool(1, std::chrono::milliseconds(0));  // every job is overdue as soon as it starts
  EXPECT_EQ(pool.concurrency(), 1u);
  EXPECT_TRUE(second_job_starts_beside_an_overdue_one(pool));
  EXPECT_GE(pool.overdue_jobs(), 1u);
}

TEST(HashPool, WorksWhereNothingCanBeRaised) {
  // A process already at nice 19 has no lower level for its hashes, and nothing to raise them
  // back to; the pool still works.
  std::thread([] {
    ASSERT_EQ(setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19), 0);
    HashPool pool(1, std::chrono::milliseconds(0));
    EXPECT_FALSE(pool.can_boost());
    int seen = 0;
    pool.run([&] { seen = own_nice(); });
    EXPECT_EQ(seen, 19);
    EXPECT_TRUE(pool.run_verify("x", pool.run_hash("x", 4)));
    EXPECT_EQ(pool.boosted_jobs(), 0u);
    // Overdue jobs are still found, and one more may still start beside them.
    EXPECT_TRUE(second_job_starts_beside_an_overdue_one(pool));
    EXPECT_GE(pool.overdue_jobs(), 1u);
    EXPECT_EQ(pool.boosted_jobs(), 0u);
  }).join();
}

TEST(HashPool, RunPassesExceptionsOn) {
  HashPool pool(1);
  EXPECT_THROW(pool.run([] { throw std::runtime_error("job failed"); }), std::runtime_error);
  int ran = 0;
  pool.run([&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(HashPool, DestructorJoinsCleanly) {
  for (int i = 0; i < 5; ++i) {
    HashPool pool(4);
    (void)pool.run_hash("x", 4);
  }
  SUCCEED();
}

// The asynchronous path: the caller returns at once and the completion reports the outcome.
TEST(HashPoolSubmit, RunsTheJobThenCallsDoneOnAPoolThread) {
  HashPool pool(1);
  std::promise<std::pair<bool, std::thread::id>> seen;
  bool ran = false;
  ASSERT_TRUE(pool.submit([&] { ran = true; },
                          [&](std::exception_ptr e) { seen.set_value({e == nullptr, std::this_thread::get_id()}); }));
  auto [ok, thread] = seen.get_future().get();
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ran);
  EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(HashPoolSubmit, AJobsExceptionReachesDone) {
  HashPool pool(1);
  std::promise<std::exception_ptr> seen;
  ASSERT_TRUE(pool.submit([] { throw std::invalid_argument("bad"); }, [&](std::exception_ptr e) { seen.set_value(e); }));
  EXPECT_THROW(std::rethrow_exception(seen.get_future().get()), std::invalid_argument);
}

// One thread held by a gate: the queue fills to max_queued, and the next submit is refused.
TEST(HashPoolSubmit, QueueIsBoundedByCount) {
  HashPool pool(1, std::chrono::hours(1), HashQueueLimits{3, std::chrono::seconds(60)});
  std::promise<void> gate;
  auto open = gate.get_future().share();
  std::atomic<int> done{0};
  auto wait_gate = [open] { open.wait(); };
  auto count = [&](std::exception_ptr) { ++done; };
  ASSERT_TRUE(pool.submit(wait_gate, count));
  ASSERT_TRUE(eventually([&] { return pool.queued() == 0; }));  // the first one is running
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.submit(wait_gate, count)) << i;
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_FALSE(pool.submit(wait_gate, count));
  EXPECT_EQ(pool.rejected_full(), 1u);
  gate.set_value();
  ASSERT_TRUE(eventually([&] { return done == 4; }));
  EXPECT_TRUE(pool.submit([] {}, count));  // room again
  ASSERT_TRUE(eventually([&] { return done == 5; }));
}

// A job that waited past max_wait is not run; its completion gets HashQueueTimeout.
TEST(HashPoolSubmit, QueueIsBoundedByWait) {
  HashPool pool(1, std::chrono::hours(1), HashQueueLimits{16, std::chrono::milliseconds(100)});
  std::promise<void> gate;
  auto open = gate.get_future().share();
  ASSERT_TRUE(pool.submit([open] { open.wait(); }, [](std::exception_ptr) {}));
  std::promise<std::exception_ptr> late;
  bool ran = false;
  ASSERT_TRUE(pool.submit([&] { ran = true; }, [&](std::exception_ptr e) { late.set_value(e); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // longer than max_wait, by design
  gate.set_value();
  auto error = late.get_future().get();
  EXPECT_FALSE(ran);
  EXPECT_THROW(std::rethrow_exception(error), HashQueueTimeout);
  EXPECT_EQ(pool.rejected_timeout(), 1u);
}

// Destroying the pool completes every queued job, so no suspended request is left unanswered.
TEST(HashPoolSubmit, DestructorCompletesQueuedJobs) {
  std::atomic<int> done{0};
  {
    HashPool pool(1);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.submit([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); },
                                                         [&](std::exception_ptr) { ++done; }));
  }
  EXPECT_EQ(done, 10);
}

}  // namespace
}  // namespace vmshare::auth
