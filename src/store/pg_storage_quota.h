#pragma once
// The storage quota that snapshots, recordings and dropped USB sticks share
// (users.snapshot_stored against snapshot_storage_capacity, in MB), for PgUserStore. Each runs
// inside the caller's transaction, so a charge and the record it pays for commit together. The
// UPDATE's row lock on the user serialises concurrent charges of one user.
#include <cstdint>

#include <pqxx/pqxx>

#include "store/user_store.h"

namespace vmshare::store {

// Adds delta_mb (negative gives back) when the result stays within 0 and the capacity; throws
// QuotaExceeded, changing nothing, otherwise (zeros for a user that does not exist).
User pg_charge_storage(pqxx::work& tx, std::int64_t user_id, std::int64_t delta_mb);

// Gives mb back, never below zero (a refund must not fail, whatever happened before). A user
// that does not exist: zeros.
User pg_refund_storage(pqxx::work& tx, std::int64_t user_id, std::int64_t mb);

}  // namespace vmshare::store
