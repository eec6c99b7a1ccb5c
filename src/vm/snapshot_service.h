#pragma once
// Snapshots of running VMs and the quota they charge: reserve in the database, write, settle
// to the real size, and give everything back on any failure. Files live in
// <data_dir>/snapshots/<user_id>/<name>; the database says who owns what.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/user_store.h"
#include "vm/errors.h"
#include "vm/vm_manager.h"

namespace vmshare::vm {

// This node's snapshots are at SNAPSHOT_STORE_MAX_MB or SNAPSHOT_STORE_MAX_FILES (507).
struct SnapshotStoreFull : VmError {
  using VmError::VmError;
};
// Writing the snapshot would leave less than MIN_FREE_DISK_MB free (507).
struct SnapshotDiskFull : VmError {
  SnapshotDiskFull() : VmError("Not enough disk space on the server for this snapshot; try again later") {}
};

// Node-wide limits, checked when a snapshot is reserved (with its expected size).
struct SnapshotStoreLimits {
  std::int64_t max_mb = INT64_MAX;
  std::int64_t max_files = INT64_MAX;
  std::uint64_t min_free_bytes = 0;
};
// Free bytes for unprivileged writers on the filesystem holding a path.
using SnapshotFreeSpace = std::function<std::uint64_t(const std::string& path)>;

struct SnapshotCreated {
  store::SnapshotRecord record;
  std::string charged_from;  // "base+overlay" | "snapshot" | "overlay"
  std::int64_t total_mb = 0;
  std::int64_t cap_mb = 0;
  double seconds = 0;  // how long the copy took (the guest keeps running throughout)
};

struct SnapshotRemoved {
  store::SnapshotRecord record;
  std::int64_t total_mb = 0;
};

class SnapshotService {
 public:
  SnapshotService(std::string data_dir, store::UserStore& users, VmManager& vms, SnapshotStoreLimits limits = {},
                  SnapshotFreeSpace free_space = {});

  // A boot in progress from a snapshot: while it lives the snapshot cannot be removed. Move-only;
  // destroying it releases the claim (after the launch has returned, success or not).
  class BootClaim {
   public:
    BootClaim(store::UserStore& users, std::string name) : users_(&users), name_(std::move(name)) {}
    BootClaim(BootClaim&& other) noexcept : users_(std::exchange(other.users_, nullptr)), name_(std::move(other.name_)) {}
    BootClaim(const BootClaim&) = delete;
    BootClaim& operator=(const BootClaim&) = delete;
    BootClaim& operator=(BootClaim&&) = delete;
    ~BootClaim();

   private:
    store::UserStore* users_;
    std::string name_;
  };

  // Blocking. Throws VmNotFound, store::QuotaExceeded (nothing written), or the copy's error
  // (everything given back).
  SnapshotCreated create(std::int64_t user_id, const std::string& vmid);
  // The caller's snapshot; SnapshotNotFound for anything else, crafted names included.
  store::SnapshotRecord get(std::int64_t user_id, const std::string& name);
  std::vector<store::SnapshotRecord> list(std::int64_t user_id);
  // Claims the user's snapshot for a boot; SnapshotNotFound when it does not exist or a
  // removal got there first.
  BootClaim claim_boot(std::int64_t user_id, const std::string& name);
  // SnapshotNotFound, or SnapshotInUse while a VM is booting or running from it.
  SnapshotRemoved remove(std::int64_t user_id, const std::string& name);
  std::string path_of(const store::SnapshotRecord& record) const;

  // Start-up: boot and removal claims left by a crash are cleared; a record without its file is
  // dropped (refunded), a pending record (a crash mid-copy) is dropped with its file, a file
  // without a record is deleted.
  void reconcile();

 private:
  // Checks the node-wide caps and the free-space guard, then reserves the user's quota.
  store::User reserve_within_node_caps(const store::SnapshotRecord& record);

  std::string data_dir_;
  store::UserStore& users_;
  VmManager& vms_;
  SnapshotStoreLimits limits_;
  SnapshotFreeSpace free_space_;
  // Only this node writes records with its node id, so serialising its own reservations here
  // keeps the node-wide sum exact.
  std::mutex reserve_mutex_;
};

}  // namespace vmshare::vm
