// PgUserStore: share links to a VM's console (issue 15).
#include "store/pg_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kLinkColumns =
    "id, vmid, owner_id, token_hash, mode, require_sign_in, created_at, expires_at, revoked_at";

ShareLink read_link(const pqxx::row& r) {
  ShareLink l;
  l.id = r[0].as<std::int64_t>();
  l.vmid = r[1].as<std::string>();
  l.owner_id = r[2].as<std::int64_t>();
  l.token_hash = r[3].as<std::string>();
  l.mode = r[4].as<std::string>();
  l.require_sign_in = r[5].as<bool>();
  l.created_at = r[6].as<std::int64_t>();
  l.expires_at = r[7].as<std::int64_t>();
  l.revoked_at = r[8].as<std::int64_t>();
  return l;
}

}  // namespace

ShareLink PgUserStore::create_share_link(const ShareLink& link, int max_live) {
  return with_conn(DbOp::insert, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // The owner's row lock serialises concurrent creations for their VM (one VM per user), so
    // the count below cannot be overtaken before the insert commits.
    tx.exec_params("SELECT id FROM users WHERE id = $1 FOR UPDATE", link.owner_id);
    auto live = tx.exec_params1("SELECT COUNT(*) FROM share_links WHERE vmid = $1 AND revoked_at = 0 AND expires_at > $2",
                                link.vmid, link.created_at);
    if (live[0].as<std::int64_t>() >= max_live) throw ShareLinkLimitReached(max_live);
    auto id = tx.exec_params1(
        "INSERT INTO share_links (vmid, owner_id, token_hash, mode, require_sign_in, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        link.vmid, link.owner_id, link.token_hash, link.mode, link.require_sign_in, link.created_at, link.expires_at);
    ShareLink out = link;
    out.id = id[0].as<std::int64_t>();
    out.revoked_at = 0;
    tx.commit();
    return out;
  });
}

std::optional<ShareLink> PgUserStore::find_share_link(const std::string& token_hash) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) -> std::optional<ShareLink> {
    pqxx::read_transaction tx(c);
    auto res = tx.exec_params(std::string("SELECT ") + kLinkColumns + " FROM share_links WHERE token_hash = $1",
                              token_hash);
    if (res.empty()) return std::nullopt;
    return read_link(res[0]);
  });
}

std::vector<ShareLink> PgUserStore::live_share_links(const std::string& vmid, std::int64_t now) {
  return with_conn(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<ShareLink> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kLinkColumns +
                                            " FROM share_links WHERE vmid = $1 AND revoked_at = 0 AND expires_at > $2 "
                                            "ORDER BY id",
                                        vmid, now))
      out.push_back(read_link(r));
    return out;
  });
}

bool PgUserStore::revoke_share_link(std::int64_t owner_id, std::int64_t id, std::int64_t now) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND owner_id = $3 AND "
                              "revoked_at = 0 AND expires_at > $1",
                              now, id, owner_id);
    tx.commit();
    return res.affected_rows() == 1;
  });
}

std::int64_t PgUserStore::revoke_share_links_of_vm(const std::string& vmid, std::int64_t now) {
  return with_conn(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE share_links SET revoked_at = $1 WHERE vmid = $2 AND revoked_at = 0", now, vmid);
    tx.commit();
    return static_cast<std::int64_t>(res.affected_rows());
  });
}

}  // namespace vmshare::store
