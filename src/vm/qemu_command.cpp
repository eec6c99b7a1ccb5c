#include "vm/qemu_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace vmshare::vm {
namespace {

[[noreturn]] void bad(const char* field, const std::string& what) {
  throw QemuSpecError(fmt::format("qemu spec: {} {}", field, what));
}

void require_absolute(const char* field, const std::string& path, bool required) {
  if (path.empty()) {
    if (required) bad(field, "is required");
    return;
  }
  if (path.front() != '/') bad(field, "must be an absolute path");
  if (path.find('\0') != std::string::npos) bad(field, "contains a NUL byte");
}

bool valid_vmid(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void validate(const QemuSpec& s) {
  if (s.qemu_binary.empty()) bad("qemu_binary", "is required");
  if (!valid_vmid(s.vmid)) bad("vmid", "must match [A-Za-z0-9_-]{1,64}");
  if (s.accel != "kvm" && s.accel != "tcg") bad("accel", "must be \"kvm\" or \"tcg\"");
  if (s.memory_mb < 64 || s.memory_mb > 65536) bad("memory_mb", "must be between 64 and 65536");
  if (s.cpus < 1 || s.cpus > 64) bad("cpus", "must be between 1 and 64");
  require_absolute("kernel", s.kernel, false);
  require_absolute("initrd", s.initrd, false);
  if (s.kernel.empty() && !s.initrd.empty()) bad("initrd", "needs kernel");
  if (s.kernel.empty() && !s.append.empty()) bad("append", "needs kernel");
}

std::string json_arg(const nlohmann::json& j) { return j.dump(); }

}  // namespace

std::string resolve_accel(const std::string& requested, bool kvm_usable) {
  if (requested == "kvm" || requested == "tcg") return requested;
  if (requested == "auto") return kvm_usable ? "kvm" : "tcg";
  throw QemuSpecError(fmt::format("accel must be kvm, tcg or auto, not \"{}\"", requested));
}

std::string fdset_path(int fdset) { return fmt::format("/dev/fdset/{}", fdset); }

std::vector<std::string> build_qemu_argv(const QemuSpec& s) {
  validate(s);
  std::vector<std::string> a;
  auto add = [&a](std::initializer_list<std::string> args) {
    a.insert(a.end(), args.begin(), args.end());
  };

  add({s.qemu_binary, "-nodefaults", "-no-user-config"});
  add({"-name", fmt::format("guest={},debug-threads=on", s.vmid)});
  add({"-machine", "pc"});
  // TCG's translation cache defaults to 1 GiB, touched as code is translated; capped so QEMU's
  // memory stays within its cgroup limit (guest RAM + VMSHARE_VM_MEMORY_OVERHEAD_MB).
  add({"-accel", s.accel == "tcg" ? fmt::format("tcg,tb-size={}", kTcgTranslationCacheMb) : s.accel});
  // tcg: "max" enables every feature TCG emulates; kvm: "host" passes the real CPU through.
  add({"-cpu", s.accel == "kvm" ? "host" : "max"});
  add({"-smp", std::to_string(s.cpus)});
  add({"-m", std::to_string(s.memory_mb)});
  add({"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});
  add({"-msg", "timestamp=on"});  // timestamps in the per-VM log

  add({"-add-fd", fmt::format("fd={},set={},opaque=disk", kDiskFd, kDiskFdset)});
  if (s.has_base) add({"-add-fd", fmt::format("fd={},set={},opaque=base", kBaseFd, kBaseFdset)});
  if (s.has_iso) add({"-add-fd", fmt::format("fd={},set={},opaque=cdrom", kIsoFd, kIsoFdset)});

  const std::string base = kBaseNodeName;
  if (s.has_base) {
    add({"-blockdev", json_arg({{"driver", "file"},
                                {"node-name", base + "-file"},
                                {"filename", fdset_path(kBaseFdset)},
                                {"read-only", true}})});
    add({"-blockdev", json_arg({{"driver", "qcow2"},
                                {"node-name", base},
                                {"file", base + "-file"},
                                {"read-only", true},
                                {"backing", nullptr}})});
  }
  const std::string disk = kDiskNodeName;
  add({"-blockdev", json_arg({{"driver", "file"},
                              {"node-name", disk + "-file"},
                              {"filename", fdset_path(kDiskFdset)}})});
  add({"-blockdev", json_arg({{"driver", "qcow2"},
                              {"node-name", disk},
                              {"file", disk + "-file"},
                              {"backing", s.has_base ? nlohmann::json(base) : nlohmann::json(nullptr)}})});
  add({"-device", fmt::format("virtio-blk-pci,drive={},id={}-dev", disk, disk)});

  if (s.has_iso) {
    const std::string cd = kCdromNodeName;
    add({"-blockdev", json_arg({{"driver", "file"},
                                {"node-name", cd + "-file"},
                                {"filename", fdset_path(kIsoFdset)},
                                {"read-only", true}})});
    add({"-blockdev",
         json_arg({{"driver", "raw"}, {"node-name", cd}, {"file", cd + "-file"}, {"read-only", true}})});
    add({"-device", fmt::format("ide-cd,drive={},id={}-dev,bus=ide.1", cd, cd)});
    add({"-boot", "order=d"});
  }

  if (!s.kernel.empty()) {
    add({"-kernel", s.kernel});
    if (!s.initrd.empty()) add({"-initrd", s.initrd});
    if (!s.append.empty()) add({"-append", s.append});
  }

  add({"-vga", "std"});
  add({"-device", "qemu-xhci,id=usb"});
  add({"-device", "usb-tablet,bus=usb.0"});
  add({"-nic", "none"});
  add({"-display", "none"});
  add({"-vnc", "none"});
  add({"-chardev", fmt::format("socket,id=qmp,fd={},server=on,wait=off", kQmpFd)});
  add({"-mon", "chardev=qmp,mode=control"});
  return a;
}

}  // namespace vmshare::vm
