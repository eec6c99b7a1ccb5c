#pragma once
// bcrypt through libxcrypt. Hashing takes ~250 ms at cost 12, so it runs on its own bounded,
// low-priority pool, never on the threads that serve I/O.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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
class HashPool {
 public:
  // threads 0: default_hash_threads(cores), one core left free of bcrypt.
  explicit HashPool(unsigned threads, std::chrono::milliseconds boost_after = kHashBoostAfter);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;
  // Runs job on a pool thread; blocks the caller until it finishes and returns its result.
  std::string run_hash(std::string_view password, int cost);
  bool run_verify(std::string_view password, const std::string& hash);
  // Any job, the same way (exceptions reach the caller).
  void run(std::function<void()> job);

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
