#pragma once
// Typed QMP commands (the upper monitor layer): one method per command, arguments and replies
// as C++ types. Blocking: call from worker threads, never from the connection's executor.
// Every method throws QmpError (what() is QMP's desc, for logs only; the full reply is logged).
#include <cstdint>
#include <string>
#include <vector>

#include "vm/qmp_connection.h"

namespace vmshare::vm {

struct RunStatus {
  std::string status;  // QMP RunState: "running", "paused", "shutdown", "inmigrate", ...
  bool running = false;
};

// One entry of query-jobs (generic jobs: backup, mirror, create...).
struct JobInfo {
  std::string id;
  std::string type;          // "backup", ...
  std::string status;        // "created", "running", "pending", "concluded", ...
  std::uint64_t current_progress = 0;
  std::uint64_t total_progress = 0;
  std::string error;         // set when a concluded job failed
};

// One entry of query-block-jobs.
struct BlockJobInfo {
  std::string device;        // the job id
  std::string type;
  std::string status;
  std::uint64_t offset = 0;
  std::uint64_t len = 0;
  bool ready = false;
};

class QmpCommands {
 public:
  explicit QmpCommands(QmpConnection& connection) : conn_(connection) {}

  RunStatus query_status();
  void cont();              // resume after stop
  void stop();              // pause vCPUs
  void system_powerdown();  // ACPI power button; the guest decides (see API.md POST /vm/stop)
  void system_reset();      // hard reset
  void quit();              // QEMU exits right after answering; the connection then closes
  // Writes the current screen to `path` (a path QEMU can write) as "png" or "ppm".
  void screendump(const std::string& path, const std::string& format = "png");

  // Descriptors handed to QEMU (libvirt's way: QEMU never opens a path vmshare does not own).
  // getfd: `fd` is stored under `name` (then add_client takes it, or closefd drops it).
  void getfd(int fd, const std::string& name);
  void closefd(const std::string& name);
  // A VNC client on an fd taken with getfd; no authentication (vmshare already checked).
  void add_vnc_client(const std::string& fd_name);
  // add-fd: `fd` joins a new fd set; returns its id, to be opened by QEMU as "/dev/fdset/<id>".
  // Access mode must match what QEMU opens (O_WRONLY for screendump, O_RDWR for a disk).
  std::int64_t add_fd(int fd, const std::string& opaque);
  void remove_fd(std::int64_t fdset_id);

  std::vector<JobInfo> query_jobs();
  std::vector<BlockJobInfo> query_block_jobs();
  void job_cancel(const std::string& id);
  void job_dismiss(const std::string& id);

  // Virtual size in bytes of a named block node (query-named-block-nodes).
  std::uint64_t node_virtual_size(const std::string& node_name);
  // Opens an existing qcow2 file as a new node (for backup targets); blockdev_del removes it.
  void blockdev_add_qcow2(const std::string& node_name, const std::string& path);
  void blockdev_del(const std::string& node_name);
  // Starts a sync=full backup job from `device` node into `target` node, auto-dismiss off so
  // its outcome can be read with query_jobs once it is "concluded".
  void blockdev_backup_full(const std::string& job_id, const std::string& device,
                            const std::string& target);

  // Hot-plug (USB sticks, usb_drop_service.h): a block node and a device from prepared
  // arguments (usb_drop_rules.h), device_del, and the names under a QOM path.
  void blockdev_add(const nlohmann::json& args);
  void device_add(const nlohmann::json& args);
  void device_del(const std::string& id);
  std::vector<std::string> qom_list(const std::string& path);

  QmpConnection& connection() { return conn_; }

 private:
  QmpConnection& conn_;
};

}  // namespace vmshare::vm
