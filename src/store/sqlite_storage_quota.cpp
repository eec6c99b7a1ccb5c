#include "store/sqlite_storage_quota.h"

namespace vmshare::store {

User sqlite_storage_quota(SqliteDb& db, std::int64_t user_id) {
  auto st = db.prepare("SELECT snapshot_stored, snapshot_storage_capacity FROM users WHERE id = ?");
  st.bind(1, user_id);
  User u;
  u.id = user_id;
  if (st.step()) {
    u.snapshot_stored = st.column_int(0);
    u.snapshot_storage_capacity = st.column_int(1);
  }
  return u;
}

User sqlite_charge_storage(SqliteDb& db, std::int64_t user_id, std::int64_t delta_mb) {
  db.prepare("UPDATE users SET snapshot_stored = snapshot_stored + ? WHERE id = ? AND "
             "snapshot_stored + ? <= snapshot_storage_capacity AND snapshot_stored + ? >= 0")
      .bind(1, delta_mb).bind(2, user_id).bind(3, delta_mb).bind(4, delta_mb).step();
  const bool charged = db.changes() == 1;
  auto now = sqlite_storage_quota(db, user_id);
  if (!charged) throw QuotaExceeded(now.snapshot_stored, now.snapshot_storage_capacity, delta_mb);
  return now;
}

User sqlite_refund_storage(SqliteDb& db, std::int64_t user_id, std::int64_t mb) {
  db.prepare("UPDATE users SET snapshot_stored = MAX(0, snapshot_stored - ?) WHERE id = ?").bind(1, mb).bind(2, user_id).step();
  return sqlite_storage_quota(db, user_id);
}

}  // namespace vmshare::store
