#pragma once
// bcrypt through libxcrypt. Hashing takes ~250 ms at cost 12, so it runs on its own bounded,
// low-priority pool, never on the threads that serve I/O.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <stdexcept>
#include <string_view>

#include "auth/hash_schedule.h"

namespace vmshare::auth {

constexpr std::size_t kBcryptMaxPasswordBytes = 72;

// "$2b$<cost>$..." ; throws std::invalid_argument for passwords over 72 bytes or a bad cost.
std::string hash_password(std::string_view password, int cost);
// Accepts $2a$, $2b$ and $2y$ hashes (passlib writes $2b$). A malformed hash is false, not a throw.
bool verify_password(std::string_view password, const std::string& hash);

// Pool for bcrypt work (rules: auth/hash_schedule.h). `threads` hashes run at once, at nice +10
// relative to the process, so request handling keeps its latency while hashes run. A job still
// running after boost_after is being starved: its thread is raised back to the process's
// priority until it ends, and one more job may start beside it, so sign-ins cannot starve on
// busy cores. Raising needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (deploy/vmshare.service
// sets LimitNICE); without it the late job stays at +10 (the extra job still starts).
// How much sign-in work may wait for a hash thread: past either bound a request is refused at
// once (503) instead of piling up. Defaults: HASH_QUEUE_MAX, HASH_QUEUE_WAIT_MS in core/config.h.
struct HashQueueLimits {
  std::size_t max_queued = 64;            // jobs waiting (not running); a submit past it is refused
  std::chrono::milliseconds max_wait{5000};  // a job that waited longer is dropped, not run
};

// Why a submitted job did not run (passed to its completion).
struct HashQueueTimeout : std::runtime_error {
  HashQueueTimeout() : std::runtime_error("hash queue: waited too long") {}
};

class HashPool {
 public:
  // threads 0: default_hash_threads(cores), one core left free of bcrypt.
  explicit HashPool(unsigned threads, std::chrono::milliseconds boost_after = kHashBoostAfter,
                    HashQueueLimits limits = {});
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;
  // Runs job on a pool thread; blocks the caller until it finishes and returns its result.
  std::string run_hash(std::string_view password, int cost);
  bool run_verify(std::string_view password, const std::string& hash);
  // Any job, the same way (exceptions reach the caller). Blocking calls ignore the queue limits.
  void run(std::function<void()> job);

  // Asynchronous: queues `job` and returns at once. false when max_queued jobs already wait
  // (`done` is then never called). Otherwise `done` runs exactly once on a pool thread: after the
  // job, with its exception (or null); or, without running the job, with HashQueueTimeout once it
  // waited max_wait. `done` must be quick (hand further work to another thread).
  using Done = std::function<void(std::exception_ptr)>;
  bool submit(std::function<void()> job, Done done);

  // Jobs refused by submit: queue full; dropped after waiting too long. Jobs waiting now.
  std::uint64_t rejected_full() const;
  std::uint64_t rejected_timeout() const;
  std::size_t queued() const;
  void count_rejected_full();  // a caller refused work up front, seeing queued() at max_queued
  const HashQueueLimits& limits() const;

  // Hashes at once while none is overdue (one more while one is).
  unsigned concurrency() const;
  // Whether an overdue job's thread can be raised (see above); jobs found overdue; raised.
  bool can_boost() const;
  std::uint64_t overdue_jobs() const;
  std::uint64_t boosted_jobs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmshare::auth
