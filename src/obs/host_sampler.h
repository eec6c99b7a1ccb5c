#pragma once
// Reads host CPU and RAM and each VM process's CPU and RSS from /proc. CPU shares need two
// readings, so a sampler remembers the previous one; keep one sampler per consumer.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "obs/proc_parsers.h"

namespace vmshare::obs {

struct UserUsage {
  double cpu_percent = 0;  // of one core (a 2-vCPU guest can reach 200)
  std::uint64_t rss_bytes = 0;
  int vms = 0;
};

struct HostSample {
  std::optional<double> cpu_percent;  // none on the first reading
  std::optional<double> ram_percent;
  std::map<std::int64_t, UserUsage> users;  // users whose VM process could be read
  std::uint64_t vm_rss_bytes = 0;
  int vm_count = 0;
};

class HostSampler {
 public:
  explicit HostSampler(std::string proc_root = "/proc");
  // pids_by_user: each user's QEMU process id.
  HostSample sample(const std::map<std::int64_t, std::int64_t>& pids_by_user);

 private:
  struct PidPrev {
    std::uint64_t ticks = 0;
    std::uint64_t start_ticks = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::string root_;
  long hz_;
  std::optional<CpuTimes> last_cpu_;
  std::map<std::int64_t, PidPrev> pids_;
};

// A /proc-style file in one read; nullopt when it cannot be read.
std::optional<std::string> read_text_file(const std::string& path);

// Free space for unprivileged users on the filesystem holding `path`, in GiB.
std::optional<double> free_gib(const std::string& path);

}  // namespace vmshare::obs
