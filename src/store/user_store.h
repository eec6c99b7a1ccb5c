#pragma once
// Users and their snapshot quota: SQLite by default, PostgreSQL in production.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"

namespace vmshare::store {

struct User {
  std::int64_t id = 0;
  std::string login;
  std::string hashed_password;
  std::string role = "user";
  std::int64_t snapshot_storage_capacity = 300;  // MB
  std::int64_t snapshot_stored = 0;              // MB
};

// One snapshot file and what it costs its owner. Ownership lives here, never in the file name.
struct SnapshotRecord {
  std::string name;  // <user_id>__<os_type>__<vmid>[-suffix].qcow2
  std::int64_t user_id = 0;
  std::string os_type;
  std::string vmid;
  std::int64_t size_mb = 0;     // charged against the quota
  std::int64_t created_at = 0;  // unix seconds
  std::string file;             // relative to the data folder
  std::string state = "pending";  // pending (being written) | ready
  std::string node;               // the vmshare node whose data folder holds the file
};

// One console recording (issue 15) and what it costs its owner, charged to the same quota as
// snapshots. The file lives in the data folder of `node`; its name is the server's choice.
struct RecordingRecord {
  std::string id;  // rec-<16 hex>
  std::int64_t user_id = 0;
  std::string vmid;
  std::string os_type;
  std::int64_t size_mb = 0;       // charged: the reservation while recording, the file's size after
  std::int64_t created_at = 0;    // unix seconds
  std::int64_t duration_ms = 0;
  std::string file;               // relative to the data folder
  std::string state = "recording";  // recording | ready
  std::string node;
};

// The charge does not fit in the owner's capacity; nothing was changed.
struct QuotaExceeded : std::runtime_error {
  std::int64_t stored, capacity, requested;
  QuotaExceeded(std::int64_t s, std::int64_t c, std::int64_t r)
      : std::runtime_error("snapshot quota exceeded"), stored(s), capacity(c), requested(r) {}
};

// What claim_snapshot_removal found.
enum class RemovalClaim {
  claimed,  // the caller may delete the snapshot (and must, or cancel the claim)
  booting,  // a boot holds it: nothing changed
  gone,     // no such ready snapshot of this user, or another removal holds it
};

// This node's snapshots together (any state), for the node-wide cap.
struct SnapshotUsage {
  std::int64_t mb = 0;
  std::int64_t files = 0;
};

struct SnapshotNameTaken : std::runtime_error {
  SnapshotNameTaken() : std::runtime_error("snapshot name taken") {}
};

// create_user on a login that exists.
struct LoginTaken : std::runtime_error {
  LoginTaken() : std::runtime_error("login taken") {}
};

// ---- Share links (issue 15; sqlite_share_link_store.cpp, pg_share_link_store.cpp) ----
// A link to a running VM's console. Only the SHA-256 of its token is stored; the token itself
// is shown once, to the owner who made it. revoked_at 0: not revoked.
struct ShareLink {
  std::int64_t id = 0;
  std::string vmid;
  std::int64_t owner_id = 0;
  std::string token_hash;  // lower-case hex SHA-256 of the token
  std::string mode;        // control | view_only
  bool require_sign_in = false;
  std::int64_t created_at = 0;  // unix seconds
  std::int64_t expires_at = 0;
  std::int64_t revoked_at = 0;
  // Neither revoked nor expired at `now` (the VM may still have ended: callers check that).
  bool live_at(std::int64_t now) const { return revoked_at == 0 && expires_at > now; }
};

// create_share_link: the VM already has `limit` live links; nothing was written.
struct ShareLinkLimitReached : std::runtime_error {
  int limit;
  explicit ShareLinkLimitReached(int l)
      : std::runtime_error("This VM already has " + std::to_string(l) +
                           " live share links (the limit); revoke one before making another"),
        limit(l) {}
};
// ---- end share links ----

// Every method is blocking (call it from a worker thread, never an I/O thread) and thread-safe.
// Database unreachable: throws vmshare::ServiceUnavailable; the next call tries to reconnect.
class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual User create_user(const std::string& login, const std::string& hashed_password,
                           const std::string& role) = 0;  // throws LoginTaken
  virtual std::optional<User> find_by_login(const std::string& login) = 0;
  virtual std::optional<User> find_by_id(std::int64_t id) = 0;
  virtual bool set_role(const std::string& login, const std::string& role) = 0;  // false: no such user
  // false: no such user. A capacity below the user's snapshot_stored (or negative) throws
  // std::invalid_argument and changes nothing; the database's CHECK constraint decides.
  virtual bool set_quota(const std::string& login, std::int64_t capacity_mb) = 0;
  virtual std::int64_t count_users() = 0;

  // Snapshots and quota. Each call is one transaction; the CHECK on users is the last line of
  // defence, the conditional UPDATE the first.
  // Charges pending.size_mb and records the snapshot as pending. Returns the owner afterwards.
  // Throws QuotaExceeded or SnapshotNameTaken, changing nothing.
  virtual User reserve_snapshot(const SnapshotRecord& pending) = 0;
  // Re-charges the real size and marks the snapshot ready. Throws QuotaExceeded (nothing
  // changed) when the difference does not fit.
  virtual User settle_snapshot(const std::string& name, std::int64_t real_size_mb) = 0;
  // Deletes the record and refunds its charge; nullopt when there is no such snapshot.
  virtual std::optional<SnapshotRecord> release_snapshot(const std::string& name) = 0;
  virtual std::optional<SnapshotRecord> find_snapshot(std::int64_t user_id, const std::string& name) = 0;
  virtual std::vector<SnapshotRecord> list_snapshots(std::int64_t user_id) = 0;  // newest first
  virtual std::vector<SnapshotRecord> all_snapshots() = 0;

  // Booting a snapshot and removing it are serialised by its record: each is one conditional
  // UPDATE, so of a boot and a removal racing for the same snapshot exactly one gets it.
  // Adds a boot claim on the user's ready snapshot unless a removal holds it; false otherwise.
  // Every true must be followed by release_snapshot_boot once the launch has returned.
  virtual bool claim_snapshot_boot(std::int64_t user_id, const std::string& name) = 0;
  virtual void release_snapshot_boot(const std::string& name) = 0;
  // Marks the user's ready snapshot as being removed when no boot and no other removal holds it.
  virtual RemovalClaim claim_snapshot_removal(std::int64_t user_id, const std::string& name) = 0;
  virtual void cancel_snapshot_removal(const std::string& name) = 0;
  // Start-up: clears the claims a crash left on this node's snapshots (and on those from
  // before snapshots had a node); returns how many records had one.
  virtual std::int64_t reset_snapshot_claims(const std::string& node) = 0;
  virtual SnapshotUsage node_snapshot_usage(const std::string& node) = 0;

  // Recordings: the same reserve / settle / release pattern as snapshots, on their own table.
  // reserve_recording throws QuotaExceeded (nothing changed); settle re-charges the real size,
  // clamped to what was reserved (a recording never grows past its reservation) and marks it ready.
  virtual User reserve_recording(const RecordingRecord& pending) = 0;
  virtual User settle_recording(const std::string& id, std::int64_t real_size_mb, std::int64_t duration_ms) = 0;
  virtual std::optional<RecordingRecord> release_recording(const std::string& id) = 0;
  virtual std::optional<RecordingRecord> find_recording(std::int64_t user_id, const std::string& id) = 0;
  virtual std::vector<RecordingRecord> list_recordings(std::int64_t user_id) = 0;  // newest first
  virtual std::vector<RecordingRecord> all_recordings() = 0;

  virtual std::string backend_name() const = 0;  // "sqlite" | "postgresql"

  // ---- Share links: each call one transaction ----
  // Inserts `link` (id ignored) unless link.vmid has `max_live` links live at link.created_at;
  // the count and the insert are atomic. Returns the link with its id. Throws ShareLinkLimitReached.
  virtual ShareLink create_share_link(const ShareLink& link, int max_live) = 0;
  virtual std::optional<ShareLink> find_share_link(const std::string& token_hash) = 0;
  // The VM's links live at `now`, oldest first.
  virtual std::vector<ShareLink> live_share_links(const std::string& vmid, std::int64_t now) = 0;
  // Revokes the owner's link `id` if it is live at `now`; false when there is none such.
  virtual bool revoke_share_link(std::int64_t owner_id, std::int64_t id, std::int64_t now) = 0;
  // The VM ended: revokes all its links not yet revoked; returns how many.
  virtual std::int64_t revoke_share_links_of_vm(const std::string& vmid, std::int64_t now) = 0;
  // ---- end share links ----
};

// SQLite file <data_dir>/vmshare.db when database_url is empty, PostgreSQL for postgresql:// or
// postgres:// (another scheme: ConfigError).
// Applies migrations. An unreachable PostgreSQL at start-up does not throw: calls give 503 until
// it is back.
std::unique_ptr<UserStore> make_user_store(const Config& config);

}  // namespace vmshare::store
