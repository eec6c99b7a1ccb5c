#include "vm/cgroup_plan.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace vmshare::vm {
namespace {

constexpr int kCpuPeriodUs = 100000;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// mountinfo escapes spaces and the like as \040 (octal).
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Mount {
  std::string root, point, fstype;
  std::vector<std::string> super_options;
};

std::vector<Mount> cgroup_mounts(const std::string& mountinfo) {
  std::vector<Mount> out;
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    auto w = words(line);
    std::size_t dash = 0;
    for (std::size_t i = 6; i < w.size(); ++i)
      if (w[i] == "-") { dash = i; break; }
    if (dash == 0 || dash + 3 > w.size()) continue;
    Mount m{unescape(w[3]), unescape(w[4]), w[dash + 1], split(w[dash + 3], ',')};
    if (m.fstype == "cgroup" || m.fstype == "cgroup2") out.push_back(std::move(m));
  }
  return out;
}

// The directory of `own_path` inside a hierarchy mounted with `root` at `point`.
std::optional<std::string> dir_in_mount(const Mount& m, const std::string& own_path) {
  if (m.root == "/") return own_path == "/" ? m.point : m.point + own_path;
  if (own_path == m.root) return m.point;
  if (own_path.rfind(m.root + "/", 0) == 0) return m.point + own_path.substr(m.root.size());
  return std::nullopt;  // our group is outside what this mount shows
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  for (const auto& e : v)
    if (e == x) return true;
  return false;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

CgroupLocation locate_cgroups(const std::string& mountinfo, const std::string& proc_self_cgroup,
                              const std::string& v2_controllers) {
  // /proc/self/cgroup: "hierarchy-id:controller,list:/path"; v2 is "0::/path".
  std::optional<std::string> v2_path;
  std::map<std::string, std::string> v1_paths;
  std::istringstream in(proc_self_cgroup);
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const auto controllers = line.substr(first + 1, second - first - 1);
    const auto path = line.substr(second + 1);
    if (line.substr(0, first) == "0" && controllers.empty()) v2_path = path;
    else
      for (const auto& c : split(controllers, ',')) v1_paths[c] = path;
  }
  const auto mounts = cgroup_mounts(mountinfo);

  CgroupLocation out;
  std::string v2_reason;
  if (v2_path) {
    for (const auto& m : mounts) {
      if (m.fstype != "cgroup2") continue;
      auto dir = dir_in_mount(m, *v2_path);
      if (!dir) continue;
      std::vector<std::string> missing;
      const auto available = words(v2_controllers);
      for (const auto& c : kVmControllers)
        if (!contains(available, c)) missing.push_back(c);
      if (missing.empty()) {
        out.version = 2;
        out.v2_dir = *dir;
        return out;
      }
      std::string list;
      for (const auto& c : missing) list += (list.empty() ? "" : ", ") + c;
      v2_reason = "cgroup v2 does not delegate " + list + " to vmshare's cgroup (systemd: Delegate=yes)";
      break;
    }
    if (v2_reason.empty()) v2_reason = "no cgroup v2 mount shows vmshare's cgroup";
  } else {
    v2_reason = "not in a cgroup v2 hierarchy";
  }

  for (const auto& c : kVmControllers) {
    auto p = v1_paths.find(c);
    if (p == v1_paths.end()) break;
    for (const auto& m : mounts)
      if (m.fstype == "cgroup" && contains(m.super_options, c))
        if (auto dir = dir_in_mount(m, p->second)) out.v1_dirs[c] = *dir;
  }
  if (out.v1_dirs.size() == kVmControllers.size()) {
    out.version = 1;
    return out;
  }
  out.v1_dirs.clear();
  out.why_not = v2_reason + ", and no cgroup v1 hierarchies for memory, cpu and pids either";
  return out;
}

CgroupLocation locate_own_cgroups(const std::string& proc_root) {
  const auto mountinfo = read_text(proc_root + "/self/mountinfo");
  const auto self = read_text(proc_root + "/self/cgroup");
  // The v2 controllers need the directory, which needs the mounts: locate once without them.
  auto probe = locate_cgroups(mountinfo, self, "memory cpu pids");
  std::string controllers;
  if (probe.version == 2) controllers = read_text(probe.v2_dir + "/cgroup.controllers");
  return locate_cgroups(mountinfo, self, controllers);
}

VmLimits vm_limits(int guest_memory_mb, int cpus, int overhead_mb, int pids_max) {
  VmLimits l;
  l.memory_bytes = (static_cast<std::uint64_t>(guest_memory_mb) + static_cast<std::uint64_t>(overhead_mb)) << 20;
  l.cpu_percent = 100 * (cpus < 1 ? 1 : cpus);
  l.pids = pids_max;
  return l;
}

std::vector<CgroupWrite> limit_writes(int version, const VmLimits& l) {
  const auto quota = std::to_string(static_cast<long long>(l.cpu_percent) * kCpuPeriodUs / 100);
  if (version == 2)
    return {{"memory", "memory.max", std::to_string(l.memory_bytes)},
            {"memory", "memory.swap.max", "0", true},
            {"cpu", "cpu.max", quota + " " + std::to_string(kCpuPeriodUs)},
            {"pids", "pids.max", std::to_string(l.pids)}};
  if (version == 1)
    return {{"memory", "memory.limit_in_bytes", std::to_string(l.memory_bytes)},
            {"cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)},
            {"cpu", "cpu.cfs_quota_us", quota},
            {"pids", "pids.max", std::to_string(l.pids)}};
  return {};
}

}  // namespace vmshare::vm
