// SqliteUserStore: recording records and the quota they charge (the snapshots' pattern).
#include <sqlite3.h>

#include "store/sqlite_storage_quota.h"
#include "store/sqlite_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kRecordingColumns = "id, user_id, vmid, os_type, size_mb, created_at, duration_ms, file, state, node";

RecordingRecord read_recording(const SqliteStatement& st) {
  RecordingRecord r;
  r.id = st.column_text(0);
  r.user_id = st.column_int(1);
  r.vmid = st.column_text(2);
  r.os_type = st.column_text(3);
  r.size_mb = st.column_int(4);
  r.created_at = st.column_int(5);
  r.duration_ms = st.column_int(6);
  r.file = st.column_text(7);
  r.state = st.column_text(8);
  r.node = st.column_text(9);
  return r;
}

}  // namespace

User SqliteUserStore::reserve_recording(const RecordingRecord& p) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto user = sqlite_charge_storage(db_, p.user_id, p.size_mb);
  db_.prepare("INSERT INTO recordings (id, user_id, vmid, os_type, size_mb, created_at, duration_ms, file, state, node) "
              "VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'recording', ?)")
      .bind(1, p.id).bind(2, p.user_id).bind(3, p.vmid).bind(4, p.os_type).bind(5, p.size_mb)
      .bind(6, p.created_at).bind(7, p.file).bind(8, p.node).step();
  tx.commit();
  return user;
}

User SqliteUserStore::settle_recording(const std::string& id, std::int64_t real_size_mb, std::int64_t duration_ms) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto row = db_.prepare("SELECT user_id, size_mb FROM recordings WHERE id = ?");
  row.bind(1, id);
  if (!row.step()) throw std::runtime_error("recording record vanished while it was written");
  const auto user_id = row.column_int(0);
  const auto reserved = row.column_int(1);
  const auto charged = real_size_mb < reserved ? real_size_mb : reserved;
  auto user = sqlite_refund_storage(db_, user_id, reserved - charged);
  db_.prepare("UPDATE recordings SET size_mb = ?, duration_ms = ?, state = 'ready' WHERE id = ?")
      .bind(1, charged).bind(2, duration_ms).bind(3, id).step();
  tx.commit();
  return user;
}

std::optional<RecordingRecord> SqliteUserStore::release_recording(const std::string& id) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto row = db_.prepare(std::string("SELECT ") + kRecordingColumns + " FROM recordings WHERE id = ?");
  row.bind(1, id);
  if (!row.step()) return std::nullopt;
  auto record = read_recording(row);
  db_.prepare("DELETE FROM recordings WHERE id = ?").bind(1, id).step();
  sqlite_refund_storage(db_, record.user_id, record.size_mb);
  tx.commit();
  return record;
}

std::optional<RecordingRecord> SqliteUserStore::find_recording(std::int64_t user_id, const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kRecordingColumns + " FROM recordings WHERE user_id = ? AND id = ?");
  st.bind(1, user_id).bind(2, id);
  if (!st.step()) return std::nullopt;
  return read_recording(st);
}

std::vector<RecordingRecord> SqliteUserStore::list_recordings(std::int64_t user_id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kRecordingColumns +
                        " FROM recordings WHERE user_id = ? ORDER BY created_at DESC, id DESC");
  st.bind(1, user_id);
  std::vector<RecordingRecord> out;
  while (st.step()) out.push_back(read_recording(st));
  return out;
}

std::vector<RecordingRecord> SqliteUserStore::all_recordings() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kRecordingColumns + " FROM recordings");
  std::vector<RecordingRecord> out;
  while (st.step()) out.push_back(read_recording(st));
  return out;
}

}  // namespace vmshare::store
