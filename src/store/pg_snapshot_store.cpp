// PgUserStore: snapshot records and the quota they charge.
#include "store/pg_storage_quota.h"
#include "store/pg_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kSnapshotColumns = "name, user_id, os_type, vmid, size_mb, created_at, file, state, node";

SnapshotRecord read_snapshot(const pqxx::row& r) {
  SnapshotRecord s;
  s.name = r[0].as<std::string>();
  s.user_id = r[1].as<std::int64_t>();
  s.os_type = r[2].as<std::string>();
  s.vmid = r[3].as<std::string>();
  s.size_mb = r[4].as<std::int64_t>();
  s.created_at = r[5].as<std::int64_t>();
  s.file = r[6].as<std::string>();
  s.state = r[7].as<std::string>();
  s.node = r[8].as<std::string>();
  return s;
}

}  // namespace

User PgUserStore::reserve_snapshot(const SnapshotRecord& p) {
  return with_conn(DbOp::insert, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto user = pg_charge_storage(tx, p.user_id, p.size_mb);
    try {
      tx.exec_params("INSERT INTO snapshots (name, user_id, os_type, vmid, size_mb, created_at, file, state, node) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
                     p.name, p.user_id, p.os_type, p.vmid, p.size_mb, p.created_at, p.file, p.node);
    } catch (const pqxx::unique_violation&) {
      throw SnapshotNameTaken();
    }
    tx.commit();
    return user;
  });
}

User PgUserStore::settle_snapshot(const std::string& name, std::int64_t real_size_mb) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto row = tx.exec_params("SELECT user_id, size_mb FROM snapshots WHERE name = $1 FOR UPDATE", name);
    if (row.empty()) throw std::runtime_error("snapshot record vanished while it was written");
    auto user = pg_charge_storage(tx, row[0][0].as<std::int64_t>(), real_size_mb - row[0][1].as<std::int64_t>());
    tx.exec_params("UPDATE snapshots SET size_mb = $1, state = 'ready' WHERE name = $2", real_size_mb, name);
    tx.commit();
    return user;
  });
}

std::optional<SnapshotRecord> PgUserStore::release_snapshot(const std::string& name) {
  return with_conn(DbOp::delete_, [&](pqxx::connection& c) -> std::optional<SnapshotRecord> {
    pqxx::work tx(c);
    auto res = tx.exec_params(std::string("DELETE FROM snapshots WHERE name = $1 RETURNING ") + kSnapshotColumns, name);
    if (res.empty()) return std::nullopt;
    auto record = read_snapshot(res[0]);
    pg_refund_storage(tx, record.user_id, record.size_mb);
    tx.commit();
    return record;
  });
}

std::optional<SnapshotRecord> PgUserStore::find_snapshot(std::int64_t user_id, const std::string& name) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) -> std::optional<SnapshotRecord> {
    pqxx::read_transaction tx(c);
    auto res = tx.exec_params(
        std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE user_id = $1 AND name = $2", user_id, name);
    if (res.empty()) return std::nullopt;
    return read_snapshot(res[0]);
  });
}

std::vector<SnapshotRecord> PgUserStore::list_snapshots(std::int64_t user_id) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<SnapshotRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kSnapshotColumns +
                                            " FROM snapshots WHERE user_id = $1 ORDER BY created_at DESC, name DESC",
                                        user_id))
      out.push_back(read_snapshot(r));
    return out;
  });
}

std::vector<SnapshotRecord> PgUserStore::all_snapshots() {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<SnapshotRecord> out;
    for (const auto& r : tx.exec(std::string("SELECT ") + kSnapshotColumns + " FROM snapshots"))
      out.push_back(read_snapshot(r));
    return out;
  });
}

bool PgUserStore::claim_snapshot_boot(std::int64_t user_id, const std::string& name) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // The UPDATE's row lock orders it against a concurrent removal claim: the second sees the first's result.
    auto res = tx.exec_params("UPDATE snapshots SET booting = booting + 1 WHERE user_id = $1 AND name = $2 AND "
                              "state = 'ready' AND NOT removing",
                              user_id, name);
    tx.commit();
    return res.affected_rows() == 1;
  });
}

void PgUserStore::release_snapshot_boot(const std::string& name) {
  with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE snapshots SET booting = booting - 1 WHERE name = $1 AND booting > 0", name);
    tx.commit();
  });
}

RemovalClaim PgUserStore::claim_snapshot_removal(std::int64_t user_id, const std::string& name) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE snapshots SET removing = true WHERE user_id = $1 AND name = $2 AND "
                              "state = 'ready' AND booting = 0 AND NOT removing",
                              user_id, name);
    if (res.affected_rows() == 1) {
      tx.commit();
      return RemovalClaim::claimed;
    }
    auto now = tx.exec_params("SELECT removing FROM snapshots WHERE user_id = $1 AND name = $2 AND state = 'ready'",
                              user_id, name);
    tx.commit();
    if (now.empty() || now[0][0].as<bool>()) return RemovalClaim::gone;
    return RemovalClaim::booting;
  });
}

void PgUserStore::cancel_snapshot_removal(const std::string& name) {
  with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE snapshots SET removing = false WHERE name = $1", name);
    tx.commit();
  });
}

std::int64_t PgUserStore::reset_snapshot_claims(const std::string& node) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE snapshots SET booting = 0, removing = false WHERE (node = $1 OR node = '') AND "
                              "(booting <> 0 OR removing)",
                              node);
    tx.commit();
    return static_cast<std::int64_t>(res.affected_rows());
  });
}

SnapshotUsage PgUserStore::node_snapshot_usage(const std::string& node) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto row = tx.exec_params1("SELECT COALESCE(SUM(size_mb), 0)::BIGINT, COUNT(*) FROM snapshots WHERE node = $1 OR node = ''",
                               node);
    return SnapshotUsage{row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
  });
}

}  // namespace vmshare::store
