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
#include "vm/qmp_connection.h"
#include "vm/vm_manager.h"
#include "vm/vm_record.h"

namespace vmshare::vm {

struct VmManager::Instance {
  VmRecord record;
  std::string status = "starting";  // guarded by VmManager::mutex_
  std::mutex op;                    // one operation per VM at a time
  std::unique_ptr<QmpConnection> qmp;
  std::unique_ptr<ExitWatcher> watcher;
  std::unique_ptr<boost::asio::steady_timer> grace;
  std::unique_ptr<boost::asio::steady_timer> expiry;
  std::map<std::uint64_t, std::function<void(const std::string&)>> viewers;  // guarded by mutex_
  std::optional<ExitReason> requested;  // why we asked it to end; guarded by mutex_
  std::mutex sync;                      // one session store write for this VM at a time

  std::mutex gone_mutex;
  std::condition_variable gone_cv;
  bool gone = false;

  VmView view() const {
    return VmView{record.vmid,         record.user_id, record.os_type, status, record.started_at,
                  record.expires_at,    static_cast<int>(viewers.size()), record.source_snapshot};
  }
};

// Files a launch opened for QEMU; each descriptor goes to QEMU at spawn and is closed here after.
struct VmManager::HostFiles {
  UniqueFd disk, base, iso, qmp_listener, log;
};

}  // namespace vmshare::vm
