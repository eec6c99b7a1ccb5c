#pragma once
// Pure parsers for the /proc files the collector and the watchdog read (unit-tested on
// captured text). Each returns nullopt on text it cannot make sense of.
#include <cstdint>
#include <optional>
#include <string_view>

namespace vmshare::obs {

// The aggregate "cpu" line of /proc/stat, in clock ticks.
struct CpuTimes {
  std::uint64_t total = 0;
  std::uint64_t idle = 0;  // idle + iowait
};
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
// Busy share between two readings, 0..100; nullopt when no time passed.
std::optional<double> cpu_percent(const CpuTimes& before, const CpuTimes& after);

struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
};
std::optional<MemInfo> parse_meminfo(std::string_view text);
double ram_percent(const MemInfo& mem);  // used share, 0..100

// /proc/<pid>/stat: CPU time (utime + stime) and start time, in clock ticks.
struct PidStat {
  std::uint64_t cpu_ticks = 0;
  std::uint64_t start_ticks = 0;  // since boot
};
std::optional<PidStat> parse_pid_stat(std::string_view text);

// VmRSS of /proc/<pid>/status, in bytes.
std::optional<std::uint64_t> parse_status_rss(std::string_view text);

// The first number of /proc/uptime, in seconds.
std::optional<double> parse_uptime(std::string_view text);

}  // namespace vmshare::obs
