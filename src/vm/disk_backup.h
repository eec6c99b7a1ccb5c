#pragma once
// A point-in-time, standalone full copy of a running VM's disk (the snapshot primitive).
//
// How (QEMU 7.2): qemu-img creates an empty qcow2 of the disk's virtual size; blockdev-add
// opens it as a node; blockdev-backup sync=full copies every guest-visible block (backing chain
// folded in) while the guest keeps running, copy-before-write keeping it consistent as of the
// job's start. The job runs with auto-dismiss=false and is polled with query-jobs until
// "concluded", so its error (if any) is read without racing an event; then job-dismiss and
// blockdev-del release the target. drive-backup is deprecated, hence not used.
// The result has no backing file: it can be booted as a base or copied anywhere.
#include <chrono>
#include <functional>
#include <string>

#include "vm/image_tool.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"

namespace vmshare::vm {

struct BackupOptions {
  std::string device_node = kDiskNodeName;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll_interval{100};
  // Given the empty target, returns the name QEMU opens it by (vmshare passes a descriptor and
  // answers "/dev/fdset/<n>"); unset: the path itself. release_target runs once QEMU let go.
  std::function<std::string(const std::string&)> expose_target;
  std::function<void()> release_target;
};

// Blocking (worker threads only). On failure the target file is removed and QmpError or
// ImageError is thrown; the VM keeps running either way. `target_path` must not exist.
void backup_disk(QmpCommands& qmp, const ImageTool& images, const std::string& target_path,
                 const BackupOptions& options = {});

}  // namespace vmshare::vm
