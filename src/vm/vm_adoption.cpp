// After a restart: adopt the VMs that still run and answer their monitor; end and clean the rest.
//
// Which process is a VM's is the kernel's word, not /proc's (hidden by ProtectProc=invisible,
// and nothing there is proof): QEMU inherited the listening monitor socket vmshare bound in the
// VM's own folder and listen()ed on it again, so SO_PEERCRED on a connection to it names QEMU's
// pid and uid. A record whose pid or uid does not match is not adopted. A VM that is not adopted
// has every process of its uid killed (a QEMU that dropped its monitor cannot hide that way).
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "vm/errors.h"
#include "vm/exit_watcher.h"
#include "vm/host_files.h"
#include "vm/qmp_commands.h"
#include "vm/vm_instance.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

namespace {

// Unconfined QEMU shares vmshare's uid, so kill_all_of_uid cannot be used: a monitor-less one is
// recognised by its command line, where /proc lets us read it.
bool cmdline_names_vm(std::int64_t pid, const std::string& vmid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str().find("guest=" + vmid + ",") != std::string::npos;
}

bool is_private_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && !(st.st_mode & 077);
}

}  // namespace

std::shared_ptr<QmpConnection> VmManager::open_monitor(const std::string& vm_dir, std::chrono::milliseconds timeout) {
  auto qmp = std::make_shared<QmpConnection>(io_, QmpOptions{timeout, std::chrono::seconds(30)});
  qmp->connect_sync(vm_dir + "/qmp.sock");
  return qmp;
}

bool VmManager::adopt(const std::string& vm_dir, const std::string& name) {
  if (!is_private_dir(vm_dir)) return false;
  auto record = load_vm_record(vm_dir);
  if (!record || record->vmid != name || record->run_dir != vm_dir || record->pid <= 0) return false;
  auto vm = std::make_shared<Instance>();
  vm->record = *record;
  try {
    vm->qmp = open_monitor(vm_dir, std::chrono::seconds(3));
  } catch (const std::exception& e) {
    spdlog::info("vm {}: its monitor does not answer ({}): not adopted", record->vmid, e.what());
    return false;
  }
  const auto peer = vm->qmp->peer();
  if (peer.pid != record->pid || (confined_ && peer.uid != record->uid)) {
    spdlog::warn("vm {}: the monitor's process (pid {}, uid {}) is not the recorded one: not adopted", record->vmid,
                 peer.pid, peer.uid);
    vm->qmp->close();
    return false;
  }
  auto process = Process::adopt(static_cast<pid_t>(record->pid));
  try {
    QmpCommands(*vm->qmp).query_status();  // also proves the pidfd is QEMU's: its monitor still answers
  } catch (const std::exception& e) {
    spdlog::warn("vm {}: does not answer its monitor ({}), killing it", record->vmid, e.what());
    vm->qmp->close();
    process.signal(SIGKILL);
    process.wait_for(std::chrono::seconds(5));
    return false;
  }
  vm->watcher = std::make_unique<ExitWatcher>(io_, std::move(process));
  {
    std::lock_guard lock(mutex_);
    vms_[record->vmid] = vm;
    by_user_[record->user_id] = record->vmid;
  }
  dispatch(vm, VmEvent::of(VmEventKind::launched));  // before the watcher, as at launch
  watch(vm);
  watch_monitor(vm);
  dispatch(vm, VmEvent::of(VmEventKind::monitor_ready));
  spdlog::info("vm {}: adopted after restart (user {})", record->vmid, record->user_id);
  return true;
}

// A VM folder that was not adopted: whatever may still run for it is ended, then it goes.
void VmManager::end_leftover(const std::string& vm_dir, const std::set<std::uint32_t>& uids_in_use) {
  struct stat st {};
  if (::lstat(vm_dir.c_str(), &st) != 0) return;
  const auto record = is_private_dir(vm_dir) ? load_vm_record(vm_dir) : std::nullopt;
  // The uid its QEMU ran as: the record's, or (a folder of the older layout, handed to the VM)
  // the folder's owner. Never one an adopted VM holds, never outside the VMs' range.
  const std::uint32_t uid = record ? record->uid : static_cast<std::uint32_t>(st.st_uid);
  if (uid >= config_.vm_uid_base && uid != 0 && !uids_in_use.count(uid)) {
    if (kill_all_of_uid(uid)) spdlog::info("vm: ended whatever still ran as the user of a VM not adopted");
  } else if (record && record->pid > 0 && !confined_ && cmdline_names_vm(record->pid, record->vmid)) {
    try {
      auto process = Process::adopt(static_cast<pid_t>(record->pid));
      process.signal(SIGKILL);
      process.wait_for(std::chrono::seconds(5));
    } catch (const std::exception&) {
    }
  }
  std::error_code ec;
  fs::remove_all(vm_dir, ec);
  spdlog::info("vm: removed leftovers of a VM that no longer runs");
}

void VmManager::reconcile() {
  std::set<std::string> adopted;
  std::vector<std::string> leftovers;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(vms_dir_, ec)) {
    const std::string vm_dir = entry.path().string();
    const std::string name = entry.path().filename().string();
    bool kept = false;
    try {
      kept = adopt(vm_dir, name);
    } catch (const std::exception& e) {
      spdlog::warn("vm {}: not adopted: {}", valid_vmid(name) ? name : "?", e.what());
    }
    if (kept) adopted.insert(name);
    else leftovers.push_back(vm_dir);
  }
  std::set<std::uint32_t> uids_in_use;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, vm] : vms_) uids_in_use.insert(vm->record.uid);
  }
  for (const auto& vm_dir : leftovers) end_leftover(vm_dir, uids_in_use);
  cgroups_.remove_all_except(adopted);
  // Sessions this node published earlier whose VM is gone.
  try {
    for (const auto& s : sessions_.list_active())
      if (s.node == node_ && !adopted.count(s.vmid)) sessions_.remove_vm(s.vmid);
  } catch (const std::exception& e) {
    spdlog::warn("vm: could not reconcile the session store: {}; will retry", e.what());
    schedule_resync();
  }
}

}  // namespace vmshare::vm
