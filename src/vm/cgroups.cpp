#include "vm/cgroups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vm/errors.h"

namespace vmshare::vm {
namespace {

namespace fs = std::filesystem;

// Writes one value with a single write(2): cgroup files reject partial or buffered writes.
// Returns 0 or the errno.
int write_value(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size()) ? 0 : errno;
  ::close(fd);
  return err;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int make_dir(const std::string& path) { return ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST ? 0 : errno; }

// cgroup v2 lets a group hand controllers to its children only while it holds no processes
// itself ("no internal processes"), so vmshare moves itself (and anything else in its group)
// into a leaf first: the layout systemd documents for Delegate=yes services.
std::string enable_v2_controllers(const std::string& own, const std::string& node_dir) {
  const std::string want = "+memory +cpu +pids";
  if (write_value(own + "/cgroup.subtree_control", want) != 0) {
    const std::string leaf = own + "/vmshare-daemon";
    if (int e = make_dir(leaf)) return std::string("cannot create the daemon's leaf group (") + std::strerror(e) + ")";
    std::istringstream procs(read_text(own + "/cgroup.procs"));
    for (std::string pid; std::getline(procs, pid);)
      if (!pid.empty()) write_value(leaf + "/cgroup.procs", pid);
    if (int e = write_value(own + "/cgroup.subtree_control", want))
      return std::string("cannot enable memory, cpu and pids for child groups (") + std::strerror(e) + ")";
  }
  if (int e = make_dir(node_dir)) return std::string("cannot create vmshare's group (") + std::strerror(e) + ")";
  if (int e = write_value(node_dir + "/cgroup.subtree_control", want))
    return std::string("cannot enable memory, cpu and pids in vmshare's group (") + std::strerror(e) + ")";
  return "";
}

}  // namespace

VmCgroups VmCgroups::prepare(const std::string& node_id, const CgroupLocation& where) {
  VmCgroups out;
  const std::string name = "vmshare-" + node_id;
  if (where.version == 2) {
    const std::string node_dir = where.v2_dir + "/" + name;
    if (auto err = enable_v2_controllers(where.v2_dir, node_dir); !err.empty()) {
      out.why_ = "cgroup v2: " + err;
      return out;
    }
    out.node_dirs_ = {node_dir};
  } else if (where.version == 1) {
    for (const auto& c : kVmControllers) {
      const std::string node_dir = where.v1_dirs.at(c) + "/" + name;
      if (int e = make_dir(node_dir)) {
        out.why_ = "cgroup v1 " + c + ": cannot create vmshare's group (" + std::strerror(e) + ")";
        return out;
      }
      out.node_dirs_.push_back(node_dir);
    }
  } else {
    out.why_ = where.why_not;
    return out;
  }
  out.version_ = where.version;
  return out;
}

std::vector<std::string> VmCgroups::dirs_of(const std::string& vmid) const {
  std::vector<std::string> out;
  for (const auto& d : node_dirs_) out.push_back(d + "/" + vmid);
  return out;
}

void VmCgroups::attach(const std::string& vmid, pid_t pid, const VmLimits& limits) const {
  if (!active()) return;
  const auto dirs = dirs_of(vmid);
  auto fail = [&](const std::string& what, int err) {
    for (const auto& d : dirs) ::rmdir(d.c_str());
    throw VmError("cannot apply the VM's resource limits: " + what + " (" + std::strerror(err) + ")");
  };
  for (const auto& d : dirs)
    if (int e = make_dir(d)) fail("creating its group", e);
  auto dir_for = [&](const std::string& controller) {
    if (version_ == 2) return dirs[0];
    for (std::size_t i = 0; i < kVmControllers.size(); ++i)
      if (kVmControllers[i] == controller) return dirs[i];
    return dirs[0];
  };
  for (const auto& w : limit_writes(version_, limits)) {
    const int e = write_value(dir_for(w.controller) + "/" + w.file, w.value);
    if (e == ENOENT && w.optional) continue;
    if (e) fail(w.file, e);
  }
  const auto pid_text = std::to_string(pid);
  for (const auto& d : dirs)
    if (int e = write_value(d + "/cgroup.procs", pid_text)) fail("moving QEMU into its group", e);
}

void VmCgroups::remove(const std::string& vmid) const {
  for (const auto& d : dirs_of(vmid)) ::rmdir(d.c_str());
}

void VmCgroups::remove_all_except(const std::set<std::string>& keep) const {
  for (const auto& node_dir : node_dirs_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(node_dir, ec))
      if (entry.is_directory() && !keep.count(entry.path().filename().string())) ::rmdir(entry.path().c_str());
  }
}

}  // namespace vmshare::vm
