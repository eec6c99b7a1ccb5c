// SqliteUserStore: snapshot records and the quota they charge.
#include <sqlite3.h>

#include "store/sqlite_storage_quota.h"
#include "store/sqlite_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kSnapshotColumns = "name, user_id, os_type, vmid, size_mb, created_at, file, state, node";

SnapshotRecord read_snapshot(const SqliteStatement& st) {
  SnapshotRecord r;
  r.name = st.column_text(0);
  r.user_id = st.column_int(1);
  r.os_type = st.column_text(2);
  r.vmid = st.column_text(3);
  r.size_mb = st.column_int(4);
  r.created_at = st.column_int(5);
  r.file = st.column_text(6);
  r.state = st.column_text(7);
  r.node = st.column_text(8);
  return r;
}

}  // namespace

User SqliteUserStore::reserve_snapshot(const SnapshotRecord& p) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto user = sqlite_charge_storage(db_, p.user_id, p.size_mb);
  try {
    db_.prepare("INSERT INTO snapshots (name, user_id, os_type, vmid, size_mb, created_at, file, state, node) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)")
        .bind(1, p.name).bind(2, p.user_id).bind(3, p.os_type).bind(4, p.vmid).bind(5, p.size_mb)
        .bind(6, p.created_at).bind(7, p.file).bind(8, p.node).step();
  } catch (const SqliteError& e) {
    if (e.code == SQLITE_CONSTRAINT_PRIMARYKEY || e.code == SQLITE_CONSTRAINT_UNIQUE) throw SnapshotNameTaken();
    throw;
  }
  tx.commit();
  return user;
}

User SqliteUserStore::settle_snapshot(const std::string& name, std::int64_t real_size_mb) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto row = db_.prepare("SELECT user_id, size_mb FROM snapshots WHERE name = ?");
  row.bind(1, name);
  if (!row.step()) throw std::runtime_error("snapshot record vanished while it was written");
  auto user = sqlite_charge_storage(db_, row.column_int(0), real_size_mb - row.column_int(1));
  db_.prepare("UPDATE snapshots SET size_mb = ?, state = 'ready' WHERE name = ?")
      .bind(1, real_size_mb).bind(2, name).step();
  tx.commit();
  return user;
}

std::optional<SnapshotRecord> SqliteUserStore::release_snapshot(const std::string& name) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto row = db_.prepare(std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE name = ?");
  row.bind(1, name);
  if (!row.step()) return std::nullopt;
  auto record = read_snapshot(row);
  db_.prepare("DELETE FROM snapshots WHERE name = ?").bind(1, name).step();
  sqlite_refund_storage(db_, record.user_id, record.size_mb);
  tx.commit();
  return record;
}

std::optional<SnapshotRecord> SqliteUserStore::find_snapshot(std::int64_t user_id, const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE user_id = ? AND name = ?");
  st.bind(1, user_id).bind(2, name);
  if (!st.step()) return std::nullopt;
  return read_snapshot(st);
}

std::vector<SnapshotRecord> SqliteUserStore::list_snapshots(std::int64_t user_id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSnapshotColumns +
                        " FROM snapshots WHERE user_id = ? ORDER BY created_at DESC, name DESC");
  st.bind(1, user_id);
  std::vector<SnapshotRecord> out;
  while (st.step()) out.push_back(read_snapshot(st));
  return out;
}

std::vector<SnapshotRecord> SqliteUserStore::all_snapshots() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSnapshotColumns + " FROM snapshots");
  std::vector<SnapshotRecord> out;
  while (st.step()) out.push_back(read_snapshot(st));
  return out;
}

bool SqliteUserStore::claim_snapshot_boot(std::int64_t user_id, const std::string& name) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE snapshots SET booting = booting + 1 WHERE user_id = ? AND name = ? AND state = 'ready' "
              "AND removing = 0")
      .bind(1, user_id).bind(2, name).step();
  return db_.changes() == 1;
}

void SqliteUserStore::release_snapshot_boot(const std::string& name) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE snapshots SET booting = booting - 1 WHERE name = ? AND booting > 0").bind(1, name).step();
}

RemovalClaim SqliteUserStore::claim_snapshot_removal(std::int64_t user_id, const std::string& name) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE snapshots SET removing = 1 WHERE user_id = ? AND name = ? AND state = 'ready' "
              "AND booting = 0 AND removing = 0")
      .bind(1, user_id).bind(2, name).step();
  if (db_.changes() == 1) return RemovalClaim::claimed;
  auto st = db_.prepare("SELECT booting, removing FROM snapshots WHERE user_id = ? AND name = ? AND state = 'ready'");
  st.bind(1, user_id).bind(2, name);
  if (!st.step() || st.column_int(1) != 0) return RemovalClaim::gone;
  return RemovalClaim::booting;
}

void SqliteUserStore::cancel_snapshot_removal(const std::string& name) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE snapshots SET removing = 0 WHERE name = ?").bind(1, name).step();
}

std::int64_t SqliteUserStore::reset_snapshot_claims(const std::string& node) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE snapshots SET booting = 0, removing = 0 WHERE (node = ? OR node = '') AND "
              "(booting <> 0 OR removing <> 0)")
      .bind(1, node).step();
  return db_.changes();
}

SnapshotUsage SqliteUserStore::node_snapshot_usage(const std::string& node) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT COALESCE(SUM(size_mb), 0), COUNT(*) FROM snapshots WHERE node = ? OR node = ''");
  st.bind(1, node);
  st.step();
  return {st.column_int(0), st.column_int(1)};
}

}  // namespace vmshare::store
