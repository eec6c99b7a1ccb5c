#pragma once
// bcrypt through libxcrypt. Hashing takes ~250 ms at cost 12, so it runs on its own bounded,
// low-priority pool, never on the threads that serve I/O.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace vmshare::auth {

constexpr std::size_t kBcryptMaxPasswordBytes = 72;

// "$2b$<cost>$..." ; throws std::invalid_argument for passwords over 72 bytes or a bad cost.
std::string hash_password(std::string_view password, int cost);
// Accepts $2a$, $2b$ and $2y$ hashes (passlib writes $2b$). A malformed hash is false, not a throw.
bool verify_password(std::string_view password, const std::string& hash);

// Fixed-size pool for bcrypt work, threads at a lower scheduling priority so request handling
// keeps its latency while hashes run.
class HashPool {
 public:
  explicit HashPool(unsigned threads);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;
  // Runs job on a pool thread; blocks the caller until it finishes and returns its result.
  std::string run_hash(std::string_view password, int cost);
  bool run_verify(std::string_view password, const std::string& hash);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmshare::auth
