#pragma once
// Snapshots of running VMs and the quota they charge: reserve in the database, write, settle
// to the real size, and give everything back on any failure. Files live in
// <data_dir>/snapshots/<user_id>/<name>; the database says who owns what.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/user_store.h"
#include "vm/vm_manager.h"

namespace vmshare::vm {

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
  SnapshotService(std::string data_dir, store::UserStore& users, VmManager& vms);

  // Blocking. Throws VmNotFound, store::QuotaExceeded (nothing written), or the copy's error
  // (everything given back).
  SnapshotCreated create(std::int64_t user_id, const std::string& vmid);
  // The caller's snapshot; SnapshotNotFound for anything else, crafted names included.
  store::SnapshotRecord get(std::int64_t user_id, const std::string& name);
  std::vector<store::SnapshotRecord> list(std::int64_t user_id);
  SnapshotRemoved remove(std::int64_t user_id, const std::string& name);
  std::string path_of(const store::SnapshotRecord& record) const;

  // Start-up: a record without its file is dropped (refunded), a pending record (a crash
  // mid-copy) is dropped with its file, a file without a record is deleted.
  void reconcile();

 private:
  std::string data_dir_;
  store::UserStore& users_;
  VmManager& vms_;
};

}  // namespace vmshare::vm
