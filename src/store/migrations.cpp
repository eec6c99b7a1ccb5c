#include "store/migrations.h"

namespace vmshare::store {

// Each entry may hold several statements; it runs in the start-up transaction with its version.
const std::vector<std::string>& sqlite_migrations() {
  static const std::vector<std::string> m = {
      // 1: users and their snapshot quota (the platform's table).
      R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  login TEXT NOT NULL UNIQUE,
  hashed_password TEXT NOT NULL,
  snapshot_storage_capacity INTEGER NOT NULL DEFAULT 300,
  snapshot_stored INTEGER NOT NULL DEFAULT 0,
  role TEXT NOT NULL DEFAULT 'user',
  CONSTRAINT users_snapshot_quota CHECK (snapshot_stored >= 0 AND snapshot_stored <= snapshot_storage_capacity)
);
)sql",
      // 2: snapshots, so listings and ownership come from the database, not from file names.
      R"sql(
CREATE TABLE snapshots (
  name TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  os_type TEXT NOT NULL,
  vmid TEXT NOT NULL,
  size_mb INTEGER NOT NULL CHECK (size_mb >= 0),
  state TEXT NOT NULL DEFAULT 'pending',
  created_at INTEGER NOT NULL,
  file TEXT NOT NULL
);
CREATE INDEX snapshots_by_user ON snapshots (user_id, created_at DESC);
)sql",
      // 3: which node holds a snapshot's file, so one node's start-up never drops another's.
      R"sql(ALTER TABLE snapshots ADD COLUMN node TEXT NOT NULL DEFAULT '';)sql",
      // 4: boots in progress and a removal in progress, claimed by conditional UPDATEs so a
      // snapshot is never deleted under a VM that is booting from it.
      R"sql(
ALTER TABLE snapshots ADD COLUMN booting INTEGER NOT NULL DEFAULT 0 CHECK (booting >= 0);
ALTER TABLE snapshots ADD COLUMN removing INTEGER NOT NULL DEFAULT 0 CHECK (removing IN (0, 1));
CREATE INDEX snapshots_by_node ON snapshots (node);
)sql",
      // 5: share links to a VM's console (issue 15). Only the token's SHA-256 is kept; a link is
      // live while revoked_at = 0 and expires_at is ahead; a VM's end revokes its links.
      R"sql(
CREATE TABLE share_links (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vmid TEXT NOT NULL,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  mode TEXT NOT NULL CHECK (mode IN ('control', 'view_only')),
  require_sign_in INTEGER NOT NULL DEFAULT 0 CHECK (require_sign_in IN (0, 1)),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX share_links_by_vm ON share_links (vmid, revoked_at, expires_at);
)sql",
      // 6: console recordings (issue 15), charged to the owner's snapshot quota.
      R"sql(
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  vmid TEXT NOT NULL,
  os_type TEXT NOT NULL,
  size_mb INTEGER NOT NULL CHECK (size_mb >= 0),
  created_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  file TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'recording',
  node TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recordings_by_user ON recordings (user_id, created_at DESC);
)sql",
  };
  return m;
}

const std::vector<std::string>& pg_migrations() {
  static const std::vector<std::string> m = {
      // 1: users and their snapshot quota (the platform's table).
      R"sql(
CREATE TABLE users (
  id BIGSERIAL PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  hashed_password TEXT NOT NULL,
  snapshot_storage_capacity BIGINT NOT NULL DEFAULT 300,
  snapshot_stored BIGINT NOT NULL DEFAULT 0,
  role TEXT NOT NULL DEFAULT 'user',
  CONSTRAINT users_snapshot_quota CHECK (snapshot_stored >= 0 AND snapshot_stored <= snapshot_storage_capacity)
);
)sql",
      // 2: snapshots, so listings and ownership come from the database, not from file names.
      R"sql(
CREATE TABLE snapshots (
  name TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  os_type TEXT NOT NULL,
  vmid TEXT NOT NULL,
  size_mb BIGINT NOT NULL CHECK (size_mb >= 0),
  state TEXT NOT NULL DEFAULT 'pending',
  created_at BIGINT NOT NULL,
  file TEXT NOT NULL
);
CREATE INDEX snapshots_by_user ON snapshots (user_id, created_at DESC);
)sql",
      // 3: which node holds a snapshot's file, so one node's start-up never drops another's.
      R"sql(ALTER TABLE snapshots ADD COLUMN node TEXT NOT NULL DEFAULT '';)sql",
      // 4: boots in progress and a removal in progress, claimed by conditional UPDATEs so a
      // snapshot is never deleted under a VM that is booting from it.
      R"sql(
ALTER TABLE snapshots ADD COLUMN booting INTEGER NOT NULL DEFAULT 0 CHECK (booting >= 0);
ALTER TABLE snapshots ADD COLUMN removing BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX snapshots_by_node ON snapshots (node);
)sql",
      // 5: several nodes as one service (src/cluster): the nodes, and where each VM runs. The
      // partial unique index makes "one running VM per user" hold across every node, even for
      // launches that reach two nodes at once; a lost VM (its node died) no longer counts.
      R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  internal_url TEXT NOT NULL,
  max_vms INTEGER NOT NULL CHECK (max_vms >= 0),
  memory_mb BIGINT NOT NULL CHECK (memory_mb >= 0),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  draining BOOLEAN NOT NULL DEFAULT false,
  dead BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE vms (
  vmid TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  node TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'lost')),
  os_type TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  memory_mb BIGINT NOT NULL DEFAULT 0,
  started_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX vms_one_running_per_user ON vms (user_id) WHERE state = 'running';
CREATE INDEX vms_by_node ON vms (node, state);
CREATE TABLE node_isos (
  user_id BIGINT PRIMARY KEY,
  node TEXT NOT NULL
);
)sql",
      // 6: share links to a VM's console (issue 15). Only the token's SHA-256 is kept; a link is
      // live while revoked_at = 0 and expires_at is ahead; a VM's end revokes its links.
      R"sql(
CREATE TABLE share_links (
  id BIGSERIAL PRIMARY KEY,
  vmid TEXT NOT NULL,
  owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  mode TEXT NOT NULL CHECK (mode IN ('control', 'view_only')),
  require_sign_in BOOLEAN NOT NULL DEFAULT false,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL CHECK (expires_at > created_at),
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX share_links_by_vm ON share_links (vmid, revoked_at, expires_at);
)sql",
      // 7: console recordings (issue 15), charged to the owner's snapshot quota.
      R"sql(
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  vmid TEXT NOT NULL,
  os_type TEXT NOT NULL,
  size_mb BIGINT NOT NULL CHECK (size_mb >= 0),
  created_at BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL DEFAULT 0,
  file TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'recording',
  node TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recordings_by_user ON recordings (user_id, created_at DESC);
)sql",
  };
  return m;
}

}  // namespace vmshare::store
