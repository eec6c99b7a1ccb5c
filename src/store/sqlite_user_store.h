#pragma once
// UserStore on one SQLite file, <data_dir>/vmshare.db; one connection behind a mutex.
#include <mutex>

#include "store/sqlite_db.h"
#include "store/user_store.h"

namespace vmshare::store {

class SqliteUserStore final : public UserStore {
 public:
  // Creates data_dir if needed and applies pending migrations.
  explicit SqliteUserStore(const std::string& data_dir);

  User create_user(const std::string& login, const std::string& hashed_password,
                   const std::string& role) override;
  std::optional<User> find_by_login(const std::string& login) override;
  std::optional<User> find_by_id(std::int64_t id) override;
  bool set_role(const std::string& login, const std::string& role) override;
  bool set_quota(const std::string& login, std::int64_t capacity_mb) override;
  std::int64_t count_users() override;
  User reserve_snapshot(const SnapshotRecord& pending) override;
  User settle_snapshot(const std::string& name, std::int64_t real_size_mb) override;
  std::optional<SnapshotRecord> release_snapshot(const std::string& name) override;
  std::optional<SnapshotRecord> find_snapshot(std::int64_t user_id, const std::string& name) override;
  std::vector<SnapshotRecord> list_snapshots(std::int64_t user_id) override;
  std::vector<SnapshotRecord> all_snapshots() override;
  bool claim_snapshot_boot(std::int64_t user_id, const std::string& name) override;
  void release_snapshot_boot(const std::string& name) override;
  RemovalClaim claim_snapshot_removal(std::int64_t user_id, const std::string& name) override;
  void cancel_snapshot_removal(const std::string& name) override;
  std::int64_t reset_snapshot_claims(const std::string& node) override;
  SnapshotUsage node_snapshot_usage(const std::string& node) override;
  User reserve_recording(const RecordingRecord& pending) override;
  User settle_recording(const std::string& id, std::int64_t real_size_mb, std::int64_t duration_ms) override;
  std::optional<RecordingRecord> release_recording(const std::string& id) override;
  std::optional<RecordingRecord> find_recording(std::int64_t user_id, const std::string& id) override;
  std::vector<RecordingRecord> list_recordings(std::int64_t user_id) override;
  std::vector<RecordingRecord> all_recordings() override;
  std::string backend_name() const override { return "sqlite"; }
  // Share links (sqlite_share_link_store.cpp)
  ShareLink create_share_link(const ShareLink& link, int max_live) override;
  std::optional<ShareLink> find_share_link(const std::string& token_hash) override;
  std::vector<ShareLink> live_share_links(const std::string& vmid, std::int64_t now) override;
  bool revoke_share_link(std::int64_t owner_id, std::int64_t id, std::int64_t now) override;
  std::int64_t revoke_share_links_of_vm(const std::string& vmid, std::int64_t now) override;

  // Highest applied migration version.
  std::int64_t schema_version();
  // Tests only: raw SQL on the store's connection (e.g. to prove the CHECK constraint holds).
  void execute_for_test(const std::string& sql);

 private:
  void migrate();

  std::mutex mu_;
  SqliteDb db_;
};

}  // namespace vmshare::store
