#pragma once
// UserStore on PostgreSQL through a small connection pool. Construction never fails for an
// unreachable server: migrations run on the first call that reaches it.
#include <atomic>
#include <mutex>

#include "store/pg_pool.h"
#include "store/user_store.h"

namespace vmshare::store {

class PgUserStore final : public UserStore {
 public:
  PgUserStore(const std::string& url, std::size_t pool_size);

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
  std::string backend_name() const override { return "postgresql"; }
  // Share links (pg_share_link_store.cpp)
  ShareLink create_share_link(const ShareLink& link, int max_live) override;
  std::optional<ShareLink> find_share_link(const std::string& token_hash) override;
  std::vector<ShareLink> live_share_links(const std::string& vmid, std::int64_t now) override;
  bool revoke_share_link(std::int64_t owner_id, std::int64_t id, std::int64_t now) override;
  std::int64_t revoke_share_links_of_vm(const std::string& vmid, std::int64_t now) override;

  std::int64_t schema_version();
  // Tests only: raw SQL in its own transaction on a pooled connection.
  void execute_for_test(const std::string& sql);
  std::size_t pool_in_use() const { return pool_.in_use(); }

 private:
  // Runs fn(connection) once the schema is current; `op` labels its metrics.
  template <class F>
  auto with_conn(DbOp op, F&& fn);
  void migrate(pqxx::connection& conn);

  PgPool pool_;
  std::atomic<bool> migrated_{false};
  std::mutex migrate_mu_;
};

// In the header: pg_snapshot_store.cpp implements members with it too.
template <class F>
auto PgUserStore::with_conn(DbOp op, F&& fn) {
  return pool_.run(op, [&](pqxx::connection& c) {
    if (!migrated_.load()) migrate(c);
    return fn(c);
  });
}

}  // namespace vmshare::store
