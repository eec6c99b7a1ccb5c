#pragma once
// Shared helpers for the store tests: required service URLs, service stop/start commands,
// names unique to this run so reruns against the same servers never collide.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace vmshare::store::test {

// A value for this whole process, e.g. "r1a2b3c4".
inline const std::string& run_id() {
  static const std::string id = [] {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "r%08x", static_cast<unsigned>(rd()));
    return std::string(buf);
  }();
  return id;
}

inline std::string unique_name(const std::string& what) {
  static std::atomic<int> n{0};
  return what + "_" + run_id() + "_" + std::to_string(++n);
}

// The variable, or empty: callers fail the test with missing_env_message().
inline std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

inline std::string missing_env_message(const char* name) {
  return std::string(name) +
         " is not set. These tests need real servers: run them as\n"
         "  source scripts/services.sh && services_start && ./build-store/unit_store; "
         "services_stop";
}

// Runs the shell command held in env var `name` (e.g. VMSHARE_TEST_PG_STOP_CMD).
inline ::testing::AssertionResult run_env_command(const char* name) {
  auto cmd = env_or_empty(name);
  if (cmd.empty()) return ::testing::AssertionFailure() << missing_env_message(name);
  int rc = std::system(cmd.c_str());
  if (rc != 0) return ::testing::AssertionFailure() << name << " exited with " << rc;
  return ::testing::AssertionSuccess();
}

// Restarts a service when the test ends, even after a failed assertion.
class RestartOnExit {
 public:
  explicit RestartOnExit(const char* start_env) : start_env_(start_env) {}
  ~RestartOnExit() { EXPECT_TRUE(run_env_command(start_env_)); }

 private:
  const char* start_env_;
};

// Retries fn until it stops throwing or `limit` passes (servers take a moment after start).
template <class F>
auto eventually(F&& fn, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    try {
      return fn();
    } catch (...) {
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / unique_name("vmshare-store-test");
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vmshare::store::test
