#include "vm/snapshot_service.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "vm/errors.h"
#include "vm/snapshot_naming.h"
#include "vm/vm_record.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

namespace {

std::uint64_t statvfs_free(const std::string& path) {
  struct statvfs st{};
  if (::statvfs(path.c_str(), &st) != 0) return UINT64_MAX;  // unknown: the copy itself will tell
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace

SnapshotService::BootClaim::~BootClaim() {
  if (!users_) return;
  try {
    users_->release_snapshot_boot(name_);
  } catch (const std::exception& e) {
    // The claim stays until this node restarts (reconcile clears it); until then the snapshot
    // cannot be removed, which is the safe way to be wrong.
    spdlog::error("snapshot {}: could not release its boot claim: {}", name_, e.what());
  }
}

SnapshotService::SnapshotService(std::string data_dir, store::UserStore& users, VmManager& vms,
                                 SnapshotStoreLimits limits, SnapshotFreeSpace free_space)
    : data_dir_(std::move(data_dir)),
      users_(users),
      vms_(vms),
      limits_(limits),
      free_space_(free_space ? std::move(free_space) : SnapshotFreeSpace(statvfs_free)) {
  fs::create_directories(data_dir_ + "/snapshots");
  ::chmod((data_dir_ + "/snapshots").c_str(), 0700);
}

std::string SnapshotService::path_of(const store::SnapshotRecord& record) const {
  return data_dir_ + "/" + record.file;
}

SnapshotCreated SnapshotService::create(std::int64_t user_id, const std::string& vmid) {
  auto vm = vms_.find(vmid);
  if (!vm || vm->user_id != user_id) throw VmNotFound("No such VM");

  store::SnapshotRecord record;
  record.user_id = user_id;
  record.os_type = vm->os_type;
  record.vmid = vmid;
  record.created_at = static_cast<std::int64_t>(std::time(nullptr));
  record.node = vms_.node_id();
  record.size_mb = expected_snapshot_mb(vms_.disk_footprint_bytes(vmid));
  const std::string dir = data_dir_ + "/snapshots/" + std::to_string(user_id);
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);

  // Reserve first: over quota means nothing is written at all.
  store::User quota;
  for (int attempt = 0;; ++attempt) {
    record.name = snapshot_name(user_id, vm->os_type, vmid, attempt == 0 ? "" : new_vmid().substr(0, 6));
    record.file = "snapshots/" + std::to_string(user_id) + "/" + record.name;
    try {
      quota = reserve_within_node_caps(record);
      break;
    } catch (const store::SnapshotNameTaken&) {
      if (attempt >= 5) throw;
    }
  }

  const std::string path = path_of(record);
  const auto started = std::chrono::steady_clock::now();
  try {
    vms_.backup_disk_to(vmid, path);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw VmError("The snapshot file is missing after the copy");
    const auto real_mb = megabytes_rounded_up(static_cast<std::uint64_t>(st.st_size));
    quota = users_.settle_snapshot(record.name, real_mb);
    record.size_mb = real_mb;
    record.state = "ready";
  } catch (...) {
    std::error_code ec;
    fs::remove(path, ec);
    try {
      users_.release_snapshot(record.name);
    } catch (const std::exception& e) {
      // The start-up reconcile drops the pending record and refunds it.
      spdlog::error("snapshot {}: could not give back its reservation: {}", record.name, e.what());
    }
    throw;
  }
  SnapshotCreated out;
  out.record = record;
  out.charged_from = !vm->source_snapshot.empty() ? "snapshot" : vm->os_type == "custom" ? "overlay" : "base+overlay";
  out.total_mb = quota.snapshot_stored;
  out.cap_mb = quota.snapshot_storage_capacity;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("snapshot {}: {} MB written in {:.2f} s while the VM kept running", record.name, record.size_mb,
               out.seconds);
  return out;
}

store::User SnapshotService::reserve_within_node_caps(const store::SnapshotRecord& record) {
  constexpr std::uint64_t kMiB = 1 << 20;
  std::lock_guard lock(reserve_mutex_);
  const auto usage = users_.node_snapshot_usage(record.node);
  if (usage.files + 1 > limits_.max_files)
    throw SnapshotStoreFull("This server already stores " + std::to_string(limits_.max_files) +
                            " snapshots (its limit); remove one or ask the operator");
  if (usage.mb + record.size_mb > limits_.max_mb)
    throw SnapshotStoreFull("This server's snapshot storage is full (" + std::to_string(usage.mb) + " of " +
                            std::to_string(limits_.max_mb) + " MB used, this snapshot needs about " +
                            std::to_string(record.size_mb) + " MB); remove one or ask the operator");
  const auto free = free_space_(data_dir_ + "/snapshots");
  const auto needed = static_cast<std::uint64_t>(std::max<std::int64_t>(record.size_mb, 0)) * kMiB;
  if (free < limits_.min_free_bytes || free - limits_.min_free_bytes < needed) throw SnapshotDiskFull();
  return users_.reserve_snapshot(record);
}

SnapshotService::BootClaim SnapshotService::claim_boot(std::int64_t user_id, const std::string& name) {
  if (!plausible_snapshot_name(name) || !users_.claim_snapshot_boot(user_id, name))
    throw SnapshotNotFound("No such snapshot");
  return BootClaim(users_, name);
}

store::SnapshotRecord SnapshotService::get(std::int64_t user_id, const std::string& name) {
  if (!plausible_snapshot_name(name)) throw SnapshotNotFound("No such snapshot");
  auto record = users_.find_snapshot(user_id, name);
  if (!record || record->state != "ready") throw SnapshotNotFound("No such snapshot");
  return *record;
}

std::vector<store::SnapshotRecord> SnapshotService::list(std::int64_t user_id) {
  std::vector<store::SnapshotRecord> out;
  for (auto& r : users_.list_snapshots(user_id))
    if (r.state == "ready") out.push_back(std::move(r));
  return out;
}

SnapshotRemoved SnapshotService::remove(std::int64_t user_id, const std::string& name) {
  if (!plausible_snapshot_name(name)) throw SnapshotNotFound("No such snapshot");
  // The claim first, then the running-VM check: a boot that claimed before us is refused here,
  // and one that comes after finds the claim and is refused there.
  switch (users_.claim_snapshot_removal(user_id, name)) {
    case store::RemovalClaim::claimed:
      break;
    case store::RemovalClaim::booting:
      throw SnapshotInUse("A VM is booting from this snapshot; stop it first");
    case store::RemovalClaim::gone:
      throw SnapshotNotFound("No such snapshot");
  }
  std::optional<store::SnapshotRecord> released;
  try {
    if (vms_.snapshot_in_use(name)) throw SnapshotInUse("A running VM was booted from this snapshot; stop it first");
    released = users_.release_snapshot(name);
  } catch (...) {
    try {
      users_.cancel_snapshot_removal(name);
    } catch (const std::exception& e) {
      spdlog::error("snapshot {}: could not cancel its removal claim: {}", name, e.what());
    }
    throw;
  }
  if (!released) throw SnapshotNotFound("No such snapshot");
  std::error_code ec;
  fs::remove(path_of(*released), ec);
  SnapshotRemoved out;
  out.record = *released;
  auto user = users_.find_by_id(user_id);
  out.total_mb = user ? user->snapshot_stored : 0;
  return out;
}

void SnapshotService::reconcile() {
  if (auto n = users_.reset_snapshot_claims(vms_.node_id()))
    spdlog::info("snapshots: cleared {} boot/removal claim(s) left by the previous run", n);
  std::set<std::string> known;
  for (const auto& r : users_.all_snapshots()) {
    // Another node's file lives in its own data folder: not ours to judge.
    if (!r.node.empty() && r.node != vms_.node_id()) continue;
    if (r.os_type == "usb-drop") continue;  // a USB stick's: UsbDropService::reconcile judges it
    const auto path = path_of(r);
    if (r.state != "ready" || !fs::exists(path)) {
      users_.release_snapshot(r.name);
      std::error_code ec;
      fs::remove(path, ec);
      spdlog::info("snapshot {}: dropped at start-up ({})", r.name, r.state != "ready" ? "unfinished" : "file missing");
      continue;
    }
    known.insert(fs::weakly_canonical(path).string());
  }
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(data_dir_ + "/snapshots", ec)) {
    if (!entry.is_regular_file()) continue;
    if (!known.count(fs::weakly_canonical(entry.path()).string())) {
      fs::remove(entry.path(), ec);
      spdlog::info("snapshot: removed a stray file with no record");
    }
  }
}

}  // namespace vmshare::vm
