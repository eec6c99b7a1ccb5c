// SqliteUserStore: share links to a VM's console (issue 15).
#include "store/sqlite_user_store.h"

namespace vmshare::store {
namespace {

constexpr const char* kLinkColumns =
    "id, vmid, owner_id, token_hash, mode, require_sign_in, created_at, expires_at, revoked_at";

ShareLink read_link(const SqliteStatement& st) {
  ShareLink l;
  l.id = st.column_int(0);
  l.vmid = st.column_text(1);
  l.owner_id = st.column_int(2);
  l.token_hash = st.column_text(3);
  l.mode = st.column_text(4);
  l.require_sign_in = st.column_int(5) != 0;
  l.created_at = st.column_int(6);
  l.expires_at = st.column_int(7);
  l.revoked_at = st.column_int(8);
  return l;
}

}  // namespace

ShareLink SqliteUserStore::create_share_link(const ShareLink& link, int max_live) {
  std::lock_guard lock(mu_);
  SqliteWriteTransaction tx(db_);
  auto count = db_.prepare("SELECT COUNT(*) FROM share_links WHERE vmid = ? AND revoked_at = 0 AND expires_at > ?");
  count.bind(1, link.vmid).bind(2, link.created_at);
  count.step();
  if (count.column_int(0) >= max_live) throw ShareLinkLimitReached(max_live);
  db_.prepare("INSERT INTO share_links (vmid, owner_id, token_hash, mode, require_sign_in, created_at, expires_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, link.vmid).bind(2, link.owner_id).bind(3, link.token_hash).bind(4, link.mode)
      .bind(5, std::int64_t{link.require_sign_in ? 1 : 0}).bind(6, link.created_at).bind(7, link.expires_at)
      .step();
  auto id = db_.prepare("SELECT last_insert_rowid()");
  id.step();
  ShareLink out = link;
  out.id = id.column_int(0);
  out.revoked_at = 0;
  tx.commit();
  return out;
}

std::optional<ShareLink> SqliteUserStore::find_share_link(const std::string& token_hash) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kLinkColumns + " FROM share_links WHERE token_hash = ?");
  st.bind(1, token_hash);
  if (!st.step()) return std::nullopt;
  return read_link(st);
}

std::vector<ShareLink> SqliteUserStore::live_share_links(const std::string& vmid, std::int64_t now) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kLinkColumns +
                        " FROM share_links WHERE vmid = ? AND revoked_at = 0 AND expires_at > ? ORDER BY id");
  st.bind(1, vmid).bind(2, now);
  std::vector<ShareLink> out;
  while (st.step()) out.push_back(read_link(st));
  return out;
}

bool SqliteUserStore::revoke_share_link(std::int64_t owner_id, std::int64_t id, std::int64_t now) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE share_links SET revoked_at = ? WHERE id = ? AND owner_id = ? AND revoked_at = 0 AND expires_at > ?")
      .bind(1, now).bind(2, id).bind(3, owner_id).bind(4, now).step();
  return db_.changes() > 0;
}

std::int64_t SqliteUserStore::revoke_share_links_of_vm(const std::string& vmid, std::int64_t now) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE share_links SET revoked_at = ? WHERE vmid = ? AND revoked_at = 0").bind(1, now).bind(2, vmid).step();
  return db_.changes();
}

}  // namespace vmshare::store
