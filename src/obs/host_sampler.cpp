#include "obs/host_sampler.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace vmshare::obs {

std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<double> free_gib(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize) / (1024.0 * 1024.0 * 1024.0);
}

HostSampler::HostSampler(std::string proc_root) : root_(std::move(proc_root)), hz_(::sysconf(_SC_CLK_TCK)) {
  if (hz_ <= 0) hz_ = 100;
}

HostSample HostSampler::sample(const std::map<std::int64_t, std::int64_t>& pids_by_user) {
  HostSample out;
  if (auto text = read_text_file(root_ + "/stat"))
    if (auto cpu = parse_proc_stat(*text)) {
      if (last_cpu_) out.cpu_percent = cpu_percent(*last_cpu_, *cpu);
      last_cpu_ = cpu;
    }
  if (auto text = read_text_file(root_ + "/meminfo"))
    if (auto mem = parse_meminfo(*text)) out.ram_percent = ram_percent(*mem);

  const auto now = std::chrono::steady_clock::now();
  std::optional<double> uptime;
  std::map<std::int64_t, PidPrev> seen;
  for (const auto& [user, pid] : pids_by_user) {
    if (pid <= 0) continue;
    const std::string dir = root_ + "/" + std::to_string(pid);
    auto stat_text = read_text_file(dir + "/stat");
    auto status_text = read_text_file(dir + "/status");
    if (!stat_text || !status_text) continue;  // exited meanwhile
    auto st = parse_pid_stat(*stat_text);
    auto rss = parse_status_rss(*status_text);
    if (!st || !rss) continue;
    double cpu = 0;
    auto prev = pids_.find(pid);
    if (prev != pids_.end() && prev->second.start_ticks == st->start_ticks) {
      const double secs = std::chrono::duration<double>(now - prev->second.at).count();
      if (secs > 0 && st->cpu_ticks >= prev->second.ticks)
        cpu = 100.0 * static_cast<double>(st->cpu_ticks - prev->second.ticks) / static_cast<double>(hz_) / secs;
    } else {
      // First sight: the average since the process started, rather than nothing for a period.
      if (!uptime)
        if (auto t = read_text_file(root_ + "/uptime")) uptime = parse_uptime(*t);
      const double lived = uptime ? *uptime - static_cast<double>(st->start_ticks) / static_cast<double>(hz_) : 0;
      if (lived > 0) cpu = 100.0 * static_cast<double>(st->cpu_ticks) / static_cast<double>(hz_) / lived;
    }
    seen[pid] = PidPrev{st->cpu_ticks, st->start_ticks, now};
    auto& u = out.users[user];
    u.cpu_percent += cpu;
    u.rss_bytes += *rss;
    u.vms += 1;
    out.vm_rss_bytes += *rss;
    out.vm_count += 1;
  }
  pids_ = std::move(seen);
  return out;
}

}  // namespace vmshare::obs
