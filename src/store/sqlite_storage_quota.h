#pragma once
// The storage quota that snapshots, recordings and dropped USB sticks share
// (users.snapshot_stored against snapshot_storage_capacity, in MB), for SqliteUserStore.
// Each runs inside the caller's SqliteWriteTransaction, so a charge and the record it pays for
// are written together or not at all.
#include <cstdint>

#include "store/sqlite_db.h"
#include "store/user_store.h"

namespace vmshare::store {

// The user's use and capacity now; zeros for a user that does not exist.
User sqlite_storage_quota(SqliteDb& db, std::int64_t user_id);

// Adds delta_mb (negative gives back) when the result stays within 0 and the capacity; throws
// QuotaExceeded, changing nothing, otherwise (and for a user that does not exist).
User sqlite_charge_storage(SqliteDb& db, std::int64_t user_id, std::int64_t delta_mb);

// Gives mb back, never below zero (a refund must not fail, whatever happened before).
User sqlite_refund_storage(SqliteDb& db, std::int64_t user_id, std::int64_t mb);

}  // namespace vmshare::store
