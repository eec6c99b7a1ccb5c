#pragma once
// One VM as the manager holds it (private to the vm_*.cpp files of VmManager).
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "vm/exit_watcher.h"
#include "vm/qemu_output.h"
#include "vm/qmp_connection.h"
#include "vm/vm_manager.h"
#include "vm/vm_record.h"
#include "vm/vm_state_machine.h"

namespace vmshare::vm {

struct VmManager::Instance {
  VmRecord record;
  VmMachine machine;          // its life (vm_state_machine.h); guarded by VmManager::mutex_
  std::mutex events;          // one event at a time per VM, its actions performed in order
  std::mutex op;              // one monitor operation (screenshot, backup, reset) at a time
  std::shared_ptr<QmpConnection> qmp;  // replaced when a lost monitor is reopened; guarded by mutex_
  std::unique_ptr<ExitWatcher> watcher;
  std::shared_ptr<QemuOutput> output;  // QEMU's stdout/stderr into qemu.log, capped; none when adopted
  // Timers live on the manager's monitor thread only.
  std::unique_ptr<boost::asio::steady_timer> grace, expiry, stop_timer;
  std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;  // guarded by mutex_
  std::mutex sync;            // one session store write for this VM at a time

  std::mutex gone_mutex;
  std::condition_variable gone_cv;
  bool gone = false;

  // Under VmManager::mutex_.
  VmView view() const {
    return VmView{record.vmid,      record.user_id,    record.os_type, std::string(public_status(machine.state)),
                  record.started_at, record.expires_at, static_cast<int>(viewers.size()), record.source_snapshot};
  }
  std::string status() const { return std::string(public_status(machine.state)); }
};

// Files a launch opened for QEMU; each descriptor goes to QEMU at spawn and is closed here after.
struct VmManager::HostFiles {
  UniqueFd disk, base, iso, qmp_listener, log, output_read, output_write;
};

}  // namespace vmshare::vm
