// HashPool (declared in password_hasher.h): low-priority threads for bcrypt, and a monitor that
// deals with jobs that have run too long (rules: hash_schedule.h).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "auth/password_hasher.h"

namespace vmshare::auth {
namespace {

// Nice, not SCHED_IDLE: SCHED_IDLE won /me a lower p99 during logins on a quiet host, but on a
// host whose cores are busy (TCG guests spin) it starved sign-ins for tens of seconds, and an
// unprivileged thread can never leave SCHED_IDLE again. On Linux, PRIO_PROCESS with a thread id
// changes only that thread's nice value; lowering it is always allowed.
bool set_thread_nice(pid_t tid, int nice) {
  return setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) == 0;
}

int own_nice() {
  errno = 0;
  const int n = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  return errno == 0 ? n : 0;
}

// Whether a thread of this process, once lowered to `low`, may be raised back to `high`
// (CAP_SYS_NICE, or RLIMIT_NICE >= 20 - high). Tried on a throwaway thread, so nothing of ours
// is left lowered if it may not.
bool can_raise(int low, int high) {
  bool ok = false;
  std::thread([&] { ok = set_thread_nice(gettid(), low) && set_thread_nice(gettid(), high); }).join();
  return ok;
}

}  // namespace

struct HashPool::Impl {
  const unsigned base;  // jobs at once, one more while one is overdue
  const HashNice nice;
  const std::chrono::milliseconds boost_after;
  const bool can_boost;
  const HashQueueLimits limits;

  // A queued job; `expire` (async jobs only) is called instead of `run` once it waited too long.
  struct Job {
    std::function<void()> run;
    std::function<void()> expire;
    HashClock::time_point queued;
  };

  mutable std::mutex mutex;
  std::condition_variable wake;          // workers: a job may start, or stopping
  std::condition_variable monitor_wake;  // monitor: a job started, or stopping
  std::deque<Job> jobs;
  std::vector<HashSlot> slots;  // one per worker: base + 1
  std::vector<pid_t> tids;      // one per worker, 0 until it has started
  unsigned running = 0;
  bool stopping = false;
  bool monitor_stopping = false;
  std::atomic<std::uint64_t> overdue{0};
  std::atomic<std::uint64_t> boosted{0};
  std::atomic<std::uint64_t> rejected_full{0};
  std::atomic<std::uint64_t> rejected_timeout{0};
  std::vector<std::thread> threads;
  std::thread monitor;

  Impl(unsigned n, std::chrono::milliseconds after, HashNice levels, HashQueueLimits queue_limits)
      : base(n),
        nice(levels),
        boost_after(after),
        can_boost(levels.boosted < levels.low && can_raise(levels.low, levels.boosted)),
        limits(queue_limits),
        slots(n + 1),
        tids(n + 1, 0) {}

  bool may_start() const { return !jobs.empty() && running < hash_concurrency(base, slots); }

  void worker(std::size_t index) {
    const pid_t tid = gettid();
    if (!set_thread_nice(tid, nice.low)) spdlog::debug("hash pool: setpriority failed, running at normal priority");
    std::unique_lock lock(mutex);
    tids[index] = tid;
    for (;;) {
      HashSlot& slot = slots[index];
      if (slot.running) --running;
      slot.running = false;
      if (slot.overdue && can_boost) set_thread_nice(tid, nice.low);
      slot.overdue = false;
      // Drain the queue before leaving: every enqueued caller is blocked on its future.
      wake.wait(lock, [&] { return stopping || may_start(); });
      if (jobs.empty()) return;
      Job job = std::move(jobs.front());
      jobs.pop_front();
      if (job.expire && HashClock::now() - job.queued > limits.max_wait) {
        // Its client has waited long enough: answer now rather than hash for nobody.
        ++rejected_timeout;
        lock.unlock();
        job.expire();
        lock.lock();
        continue;
      }
      ++running;
      slot.running = true;
      slot.started = HashClock::now();
      lock.unlock();
      monitor_wake.notify_one();
      job.run();  // a packaged_task or an async job: exceptions land in its future or completion
      lock.lock();
    }
  }

  // Marks the jobs that have run boost_after as overdue: raises their threads (where allowed;
  // the worker lowers them again when the job ends, both under the mutex, so a raise never
  // outlives its job) and lets one more job start.
  void monitor_loop() {
    std::unique_lock lock(mutex);
    while (!monitor_stopping) {
      const auto late = newly_overdue(slots, HashClock::now(), boost_after);
      for (std::size_t i : late) {
        slots[i].overdue = true;
        ++overdue;
        if (can_boost && set_thread_nice(tids[i], nice.boosted)) ++boosted;
      }
      if (!late.empty()) {
        spdlog::debug("hash pool: {} hash(es) running over {} ms: raised to nice {}, one more may start", late.size(),
                      boost_after.count(), can_boost ? nice.boosted : nice.low);
        wake.notify_all();
      }
      if (auto next = next_overdue_at(slots, boost_after))
        monitor_wake.wait_until(lock, *next);
      else
        monitor_wake.wait(lock);
    }
  }

  void enqueue(std::function<void()> job) {
    {
      std::lock_guard lock(mutex);
      if (stopping) throw std::runtime_error("hash pool is shutting down");
      jobs.push_back(Job{std::move(job), nullptr, HashClock::now()});
    }
    wake.notify_one();
  }

  bool submit(std::function<void()> job, Done done) {
    auto finish = std::make_shared<Done>(std::move(done));
    Job entry{[job = std::move(job), finish] {
                std::exception_ptr error;
                try {
                  job();
                } catch (...) {
                  error = std::current_exception();
                }
                (*finish)(error);
              },
              [finish] { (*finish)(std::make_exception_ptr(HashQueueTimeout())); }, HashClock::now()};
    {
      std::lock_guard lock(mutex);
      if (stopping) throw std::runtime_error("hash pool is shutting down");
      if (jobs.size() >= limits.max_queued) {
        ++rejected_full;
        return false;
      }
      jobs.push_back(std::move(entry));
    }
    wake.notify_one();
    return true;
  }

  template <class R>
  R run(std::function<R()> fn) {
    std::packaged_task<R()> task(std::move(fn));
    std::future<R> result = task.get_future();
    // packaged_task is move-only; std::function needs copyable, so share it.
    enqueue([t = std::make_shared<std::packaged_task<R()>>(std::move(task))] { (*t)(); });
    return result.get();
  }
};

HashPool::HashPool(unsigned threads, std::chrono::milliseconds boost_after, HashQueueLimits limits) {
  if (threads == 0) threads = default_hash_threads(std::max(1u, std::thread::hardware_concurrency()));
  impl_ = std::make_unique<Impl>(threads, boost_after, hash_nice_levels(own_nice()), limits);
  impl_->threads.reserve(threads + 1);
  for (unsigned i = 0; i <= threads; ++i) impl_->threads.emplace_back([this, i] { impl_->worker(i); });
  impl_->monitor = std::thread([this] { impl_->monitor_loop(); });
  const auto& n = impl_->nice;
  spdlog::info("hash pool: {} bcrypt hash{} at once at nice {}; past {} ms one more{}", threads, threads == 1 ? "" : "es",
               n.low, impl_->boost_after.count(),
               impl_->can_boost ? fmt::format(" and the late one at nice {}", n.boosted)
               : n.low == n.boosted ? std::string()
                                    : std::string(" (the late one stays at its nice: no CAP_SYS_NICE, RLIMIT_NICE too low)"));
}

HashPool::~HashPool() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads) t.join();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->monitor_stopping = true;
  }
  impl_->monitor_wake.notify_all();
  impl_->monitor.join();
}

// The caller blocks until the job has run, so borrowing its string_view is safe.
std::string HashPool::run_hash(std::string_view password, int cost) {
  return impl_->run<std::string>([password, cost] { return hash_password(password, cost); });
}

bool HashPool::run_verify(std::string_view password, const std::string& hash) {
  return impl_->run<bool>([password, &hash] { return verify_password(password, hash); });
}

void HashPool::run(std::function<void()> job) { impl_->run<void>(std::move(job)); }

bool HashPool::submit(std::function<void()> job, Done done) { return impl_->submit(std::move(job), std::move(done)); }

std::uint64_t HashPool::rejected_full() const { return impl_->rejected_full.load(); }
std::uint64_t HashPool::rejected_timeout() const { return impl_->rejected_timeout.load(); }
void HashPool::count_rejected_full() { ++impl_->rejected_full; }
std::size_t HashPool::queued() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->jobs.size();
}
const HashQueueLimits& HashPool::limits() const { return impl_->limits; }

unsigned HashPool::concurrency() const { return impl_->base; }
bool HashPool::can_boost() const { return impl_->can_boost; }
std::uint64_t HashPool::overdue_jobs() const { return impl_->overdue.load(); }
std::uint64_t HashPool::boosted_jobs() const { return impl_->boosted.load(); }

}  // namespace vmshare::auth
