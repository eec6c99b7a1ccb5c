// PgUserStore: recording records and the quota they charge (the snapshots' pattern).
#include "store/pg_storage_quota.h"
#include "store/pg_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kRecordingColumns = "id, user_id, vmid, os_type, size_mb, created_at, duration_ms, file, state, node";

RecordingRecord read_recording(const pqxx::row& r) {
  RecordingRecord s;
  s.id = r[0].as<std::string>();
  s.user_id = r[1].as<std::int64_t>();
  s.vmid = r[2].as<std::string>();
  s.os_type = r[3].as<std::string>();
  s.size_mb = r[4].as<std::int64_t>();
  s.created_at = r[5].as<std::int64_t>();
  s.duration_ms = r[6].as<std::int64_t>();
  s.file = r[7].as<std::string>();
  s.state = r[8].as<std::string>();
  s.node = r[9].as<std::string>();
  return s;
}

}  // namespace

User PgUserStore::reserve_recording(const RecordingRecord& p) {
  return with_conn(DbOp::insert, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto user = pg_charge_storage(tx, p.user_id, p.size_mb);
    tx.exec_params("INSERT INTO recordings (id, user_id, vmid, os_type, size_mb, created_at, duration_ms, file, state, node) "
                   "VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'recording', $8)",
                   p.id, p.user_id, p.vmid, p.os_type, p.size_mb, p.created_at, p.file, p.node);
    tx.commit();
    return user;
  });
}

User PgUserStore::settle_recording(const std::string& id, std::int64_t real_size_mb, std::int64_t duration_ms) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto row = tx.exec_params("SELECT user_id, size_mb FROM recordings WHERE id = $1 FOR UPDATE", id);
    if (row.empty()) throw std::runtime_error("recording record vanished while it was written");
    const auto user_id = row[0][0].as<std::int64_t>();
    const auto reserved = row[0][1].as<std::int64_t>();
    const auto charged = std::min(real_size_mb, reserved);
    auto user = pg_refund_storage(tx, user_id, reserved - charged);
    tx.exec_params("UPDATE recordings SET size_mb = $1, duration_ms = $2, state = 'ready' WHERE id = $3", charged,
                   duration_ms, id);
    tx.commit();
    return user;
  });
}

std::optional<RecordingRecord> PgUserStore::release_recording(const std::string& id) {
  return with_conn(DbOp::delete_, [&](pqxx::connection& c) -> std::optional<RecordingRecord> {
    pqxx::work tx(c);
    auto res = tx.exec_params(std::string("DELETE FROM recordings WHERE id = $1 RETURNING ") + kRecordingColumns, id);
    if (res.empty()) return std::nullopt;
    auto record = read_recording(res[0]);
    pg_refund_storage(tx, record.user_id, record.size_mb);
    tx.commit();
    return record;
  });
}

std::optional<RecordingRecord> PgUserStore::find_recording(std::int64_t user_id, const std::string& id) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) -> std::optional<RecordingRecord> {
    pqxx::read_transaction tx(c);
    auto res = tx.exec_params(std::string("SELECT ") + kRecordingColumns + " FROM recordings WHERE user_id = $1 AND id = $2",
                              user_id, id);
    if (res.empty()) return std::nullopt;
    return read_recording(res[0]);
  });
}

std::vector<RecordingRecord> PgUserStore::list_recordings(std::int64_t user_id) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<RecordingRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kRecordingColumns +
                                            " FROM recordings WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
                                        user_id))
      out.push_back(read_recording(r));
    return out;
  });
}

std::vector<RecordingRecord> PgUserStore::all_recordings() {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<RecordingRecord> out;
    for (const auto& r : tx.exec(std::string("SELECT ") + kRecordingColumns + " FROM recordings")) out.push_back(read_recording(r));
    return out;
  });
}

}  // namespace vmshare::store
