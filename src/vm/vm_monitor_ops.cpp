// VM operations that hand QEMU a descriptor over QMP (libvirt's way): a console is a socketpair
// end given with getfd + add_client; a screenshot and a snapshot target are files vmshare opened
// and passed with add-fd, which QEMU opens as /dev/fdset/<n>. QEMU never gets a path to follow.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/console_bridge.h"
#include "vm/disk_backup.h"
#include "vm/errors.h"
#include "vm/host_files.h"
#include "vm/image_tool.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"
#include "vm/vm_instance.h"

namespace vmshare::vm {

namespace {

// A PNG of even a 4K screen is well under this; a QEMU writing more is not answering honestly.
constexpr std::size_t kMaxScreenshotBytes = 64u << 20;

std::string next_fd_name(const char* kind) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{}-{}", kind, counter.fetch_add(1));
}

// An fd set QEMU holds for one command, removed afterwards whatever happened.
class PassedFdset {
 public:
  PassedFdset(QmpCommands& qmp, int fd, const char* opaque) : qmp_(qmp), id_(qmp.add_fd(fd, opaque)) {}
  ~PassedFdset() { release(); }
  void release() {
    if (id_ < 0) return;
    try {
      qmp_.remove_fd(std::exchange(id_, -1));
    } catch (const std::exception& e) {
      spdlog::debug("remove-fd: {}", e.what());
    }
  }
  std::string path() const { return fdset_path(static_cast<int>(id_)); }

 private:
  QmpCommands& qmp_;
  std::int64_t id_;
};

}  // namespace

UniqueFd VmManager::open_console(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw VmError("cannot open a console");
  UniqueFd ours(pair[0]), theirs(pair[1]);
  ConsoleBridge::tune_vm_end(theirs.get());  // QEMU queues a whole update for one read
  const auto monitor = monitor_of(vm);
  QmpCommands qmp(*monitor);
  const auto name = next_fd_name("viewer");
  qmp.getfd(theirs.get(), name);
  try {
    qmp.add_vnc_client(name);
  } catch (...) {
    try {
      qmp.closefd(name);
    } catch (const std::exception&) {
    }
    throw;
  }
  return ours;
}

std::string VmManager::screenshot_png(const std::string& vmid) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  // Memory, not a file: QEMU writes through a write-only descriptor of it, vmshare reads it back.
  UniqueFd image(::memfd_create("vmshare-screendump", MFD_CLOEXEC));
  if (!image) throw VmError("cannot prepare a screenshot");
  UniqueFd writer(::open(fmt::format("/proc/self/fd/{}", image.get()).c_str(), O_WRONLY | O_CLOEXEC));
  if (!writer) throw VmError("cannot prepare a screenshot");
  const auto monitor = monitor_of(vm);
  QmpCommands qmp(*monitor);
  {
    PassedFdset target(qmp, writer.get(), "screendump");
    qmp.screendump(target.path(), "png");
  }
  auto png = read_capped(image.get(), kMaxScreenshotBytes);
  if (png.empty()) throw VmError("The VM did not produce a screenshot");
  return png;
}

void VmManager::backup_disk_to(const std::string& vmid, const std::string& target_path) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  const auto monitor = monitor_of(vm);
  QmpCommands qmp(*monitor);
  const ImageTool images(config_.qemu_img, std::chrono::minutes(10));
  std::optional<PassedFdset> passed;
  BackupOptions options;
  options.expose_target = [&](const std::string& path) {
    UniqueFd fd = open_regular(path, true);  // created by qemu-img a moment ago, in vmshare's folder
    passed.emplace(qmp, fd.get(), "snapshot");
    return passed->path();
  };
  options.release_target = [&] { passed.reset(); };
  backup_disk(qmp, images, target_path, options);
  // QEMU wrote the file: before anything opens it by path, it must name no other file.
  try {
    const auto info = images.image_info(target_path, "qcow2");
    if (info.references_other_files()) throw ImageError("the snapshot refers to other files", "backing or data file set");
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(target_path, ec);
    throw;
  }
}

}  // namespace vmshare::vm
