// HashPool (declared in password_hasher.h): a fixed set of low-priority threads for bcrypt.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
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

// Nice value for pool threads: below request threads, so a burst of logins cannot starve I/O.
constexpr int kHashThreadNice = 10;

void lower_own_priority() {
  // Nice, not SCHED_IDLE: SCHED_IDLE won /me a lower p99 during logins, but on a host whose
  // cores are busy (TCG guests spin) it starved sign-ins for tens of seconds. At nice 10 a
  // hash still gets ~10% of a contended core, while request threads keep the lead.
  // On Linux, PRIO_PROCESS with a thread id changes only that thread's nice value.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kHashThreadNice) != 0)
    spdlog::debug("hash pool: setpriority failed, running at normal priority");
}

}  // namespace

struct HashPool::Impl {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;

  void worker() {
    lower_own_priority();
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return stopping || !jobs.empty(); });
        // Drain the queue before leaving: every enqueued caller is blocked on its future.
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job();  // a packaged_task: exceptions land in the caller's future
    }
  }

  template <class R>
  R run(std::function<R()> fn) {
    std::packaged_task<R()> task(std::move(fn));
    std::future<R> result = task.get_future();
    {
      std::lock_guard lock(mutex);
      if (stopping) throw std::runtime_error("hash pool is shutting down");
      // packaged_task is move-only; std::function needs copyable, so share it.
      jobs.emplace_back([t = std::make_shared<std::packaged_task<R()>>(std::move(task))] { (*t)(); });
    }
    wake.notify_one();
    return result.get();
  }
};

HashPool::HashPool(unsigned threads) : impl_(std::make_unique<Impl>()) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  impl_->threads.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->worker(); });
}

HashPool::~HashPool() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads) t.join();
}

// The caller blocks until the job has run, so borrowing its string_view is safe.
std::string HashPool::run_hash(std::string_view password, int cost) {
  return impl_->run<std::string>([password, cost] { return hash_password(password, cost); });
}

bool HashPool::run_verify(std::string_view password, const std::string& hash) {
  return impl_->run<bool>([password, &hash] { return verify_password(password, hash); });
}

}  // namespace vmshare::auth
