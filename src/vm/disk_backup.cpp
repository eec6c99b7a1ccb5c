#include "vm/disk_backup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace vmshare::vm {
namespace {

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}-{}", ::getpid(), counter++);
}

QmpError backup_error(QmpStatus::Kind kind, const std::string& desc) {
  QmpStatus s;
  s.kind = kind;
  s.desc = desc;
  return QmpError(s);
}

// Polls until the job is concluded (or gone); returns its error text, empty on success.
std::string wait_concluded(QmpCommands& qmp, const std::string& job_id,
                           std::chrono::steady_clock::time_point deadline,
                           std::chrono::milliseconds interval, bool* timed_out) {
  *timed_out = false;
  for (;;) {
    bool found = false;
    for (const auto& j : qmp.query_jobs()) {
      if (j.id != job_id) continue;
      found = true;
      if (j.status == "concluded") return j.error;
      if (j.status == "null") return "the backup job vanished";
    }
    if (!found) return "the backup job vanished";
    if (std::chrono::steady_clock::now() >= deadline) {
      *timed_out = true;
      return "the snapshot took too long";
    }
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace

void backup_disk(QmpCommands& qmp, const ImageTool& images, const std::string& target_path,
                 const BackupOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(target_path, ec)) throw ImageError("the snapshot file already exists", target_path);

  const std::string id = "backup-" + unique_suffix();
  const std::string target_node = id + "-target";
  bool node_added = false, job_started = false;
  auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  try {
    std::uint64_t size = qmp.node_virtual_size(opt.device_node);
    images.create_blank(target_path, size);
    const std::string name = opt.expose_target ? opt.expose_target(target_path) : target_path;
    qmp.blockdev_add_qcow2(target_node, name);
    node_added = true;
    qmp.blockdev_backup_full(id, opt.device_node, target_node);
    job_started = true;

    bool timed_out = false;
    std::string err = wait_concluded(qmp, id, deadline, opt.poll_interval, &timed_out);
    if (timed_out) {
      qmp.job_cancel(id);
      // A cancelled job concludes quickly; give it a short grace to do so.
      wait_concluded(qmp, id, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                     opt.poll_interval, &timed_out);
    }
    qmp.job_dismiss(id);
    job_started = false;
    qmp.blockdev_del(target_node);
    node_added = false;
    if (opt.release_target) opt.release_target();
    if (timed_out || !err.empty()) {
      spdlog::warn("disk backup {} -> {} failed: {}", opt.device_node, fs::path(target_path).filename().string(), err);
      throw backup_error(timed_out ? QmpStatus::Kind::timeout : QmpStatus::Kind::command_error,
                         timed_out ? err : "the snapshot could not be written");
    }
    spdlog::info("disk backup {} -> {} done ({} bytes virtual)", opt.device_node, fs::path(target_path).filename().string(), size);
  } catch (...) {
    // Best-effort cleanup; the original error is what the caller needs.
    try {
      if (job_started) {
        bool t = false;
        qmp.job_cancel(id);
        wait_concluded(qmp, id, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                       opt.poll_interval, &t);
        qmp.job_dismiss(id);
      }
    } catch (const std::exception& e) {
      spdlog::warn("disk backup cleanup (job {}): {}", id, e.what());
    }
    try {
      if (node_added) qmp.blockdev_del(target_node);
      if (opt.release_target) opt.release_target();
    } catch (const std::exception& e) {
      spdlog::warn("disk backup cleanup (node {}): {}", target_node, e.what());
    }
    fs::remove(target_path, ec);
    throw;
  }
}

}  // namespace vmshare::vm
