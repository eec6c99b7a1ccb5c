#include "store/pg_storage_quota.h"

namespace vmshare::store {

namespace {

User quota_of(const pqxx::result& res, std::int64_t user_id) {
  User u;
  u.id = user_id;
  if (res.empty()) return u;
  u.snapshot_stored = res[0][0].as<std::int64_t>();
  u.snapshot_storage_capacity = res[0][1].as<std::int64_t>();
  return u;
}

}  // namespace

User pg_charge_storage(pqxx::work& tx, std::int64_t user_id, std::int64_t delta_mb) {
  auto res = tx.exec_params(
      "UPDATE users SET snapshot_stored = snapshot_stored + $1 WHERE id = $2 AND "
      "snapshot_stored + $1 <= snapshot_storage_capacity AND snapshot_stored + $1 >= 0 "
      "RETURNING snapshot_stored, snapshot_storage_capacity",
      delta_mb, user_id);
  if (!res.empty()) return quota_of(res, user_id);
  const auto now =
      quota_of(tx.exec_params("SELECT snapshot_stored, snapshot_storage_capacity FROM users WHERE id = $1", user_id),
               user_id);
  throw QuotaExceeded(now.snapshot_stored, now.snapshot_storage_capacity, delta_mb);
}

User pg_refund_storage(pqxx::work& tx, std::int64_t user_id, std::int64_t mb) {
  return quota_of(tx.exec_params("UPDATE users SET snapshot_stored = GREATEST(0, snapshot_stored - $1) WHERE id = $2 "
                                 "RETURNING snapshot_stored, snapshot_storage_capacity",
                                 mb, user_id),
                  user_id);
}

}  // namespace vmshare::store
