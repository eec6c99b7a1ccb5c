#include "obs/proc_parsers.h"

#include <charconv>
#include <vector>

namespace vmshare::obs {
namespace {

std::string_view next_token(std::string_view& s) {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  std::size_t j = i;
  while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
  auto tok = s.substr(i, j - i);
  s.remove_prefix(j);
  return tok;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string_view line_starting(std::string_view text, std::string_view prefix) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(pos, end - pos);
    if (line.substr(0, prefix.size()) == prefix) return line;
    pos = end + 1;
  }
  return {};
}

}  // namespace

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
  auto line = line_starting(text, "cpu ");
  if (line.empty()) return std::nullopt;
  next_token(line);  // "cpu"
  std::vector<std::uint64_t> f;
  for (auto tok = next_token(line); !tok.empty(); tok = next_token(line)) {
    auto v = to_u64(tok);
    if (!v) return std::nullopt;
    f.push_back(*v);
  }
  if (f.size() < 4) return std::nullopt;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user/nice, so only the first eight fields add up to the total.
  CpuTimes t;
  for (std::size_t i = 0; i < f.size() && i < 8; ++i) t.total += f[i];
  t.idle = f[3] + (f.size() > 4 ? f[4] : 0);
  return t;
}

std::optional<double> cpu_percent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return std::nullopt;
  const double total = static_cast<double>(after.total - before.total);
  const double idle = after.idle >= before.idle ? static_cast<double>(after.idle - before.idle) : 0.0;
  double busy = 100.0 * (total - idle) / total;
  return busy < 0 ? 0 : (busy > 100 ? 100 : busy);
}

std::optional<MemInfo> parse_meminfo(std::string_view text) {
  auto kb = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto line = line_starting(text, key);
    if (line.empty()) return std::nullopt;
    line.remove_prefix(key.size());
    return to_u64(next_token(line));
  };
  auto total = kb("MemTotal:");
  auto available = kb("MemAvailable:");
  if (!available) {
    // Kernels before 3.14 lack MemAvailable: approximate it.
    auto free = kb("MemFree:"), buffers = kb("Buffers:"), cached = kb("Cached:");
    if (free && buffers && cached) available = *free + *buffers + *cached;
  }
  if (!total || !available || *total == 0) return std::nullopt;
  return MemInfo{*total * 1024, *available * 1024};
}

double ram_percent(const MemInfo& mem) {
  if (mem.total_bytes == 0) return 0;
  const double used = mem.available_bytes >= mem.total_bytes ? 0.0
                                                               : static_cast<double>(mem.total_bytes - mem.available_bytes);
  return 100.0 * used / static_cast<double>(mem.total_bytes);
}

std::optional<PidStat> parse_pid_stat(std::string_view text) {
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: fields restart
  // after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(close + 1);
  std::vector<std::string_view> f;  // f[0] is field 3 (state)
  for (auto tok = next_token(rest); !tok.empty(); tok = next_token(rest)) f.push_back(tok);
  // utime = field 14, stime = 15, starttime = 22 (1-based, man 5 proc).
  if (f.size() < 20) return std::nullopt;
  auto utime = to_u64(f[14 - 3]), stime = to_u64(f[15 - 3]), start = to_u64(f[22 - 3]);
  if (!utime || !stime || !start) return std::nullopt;
  return PidStat{*utime + *stime, *start};
}

std::optional<std::uint64_t> parse_status_rss(std::string_view text) {
  auto line = line_starting(text, "VmRSS:");
  if (line.empty()) return std::nullopt;
  line.remove_prefix(6);
  auto v = to_u64(next_token(line));
  if (!v) return std::nullopt;
  return *v * 1024;
}

std::optional<double> parse_uptime(std::string_view text) {
  auto tok = next_token(text);
  if (tok.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace vmshare::obs
