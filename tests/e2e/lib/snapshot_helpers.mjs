// Helpers for the snapshot end-to-end tests: the quota as the database holds it (there is no
// route for snapshot_stored), snapshot files on disk, and reading a snapshot image offline.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { runVmshare } from './server.mjs';

const run = promisify(execFile);
export const MiB = 1 << 20;

// One SQL value from the server's storage: sqlite3 on <dataDir>/vmshare.db (embedded) or psql
// on the server's own DATABASE_URL, whose search_path is the test's schema (production).
export async function sqlValue(server, sql) {
  const { stdout } = server.env.DATABASE_URL
    ? await run('psql', [server.env.DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { timeout: 15000 })
    : await run('sqlite3', ['-cmd', '.timeout 5000', path.join(server.dataDir, 'vmshare.db'), sql], { timeout: 15000 });
  return stdout.trim();
}

// {stored, capacity} in MB for a user id.
export async function quotaOf(server, userId) {
  const row = await sqlValue(server, `SELECT snapshot_stored || ' ' || snapshot_storage_capacity FROM users WHERE id = ${Number(userId)}`);
  const [stored, capacity] = row.split(' ').map(Number);
  return { stored, capacity };
}

// Number of snapshot rows (any state) for a user.
export async function snapshotRows(server, userId) {
  return Number(await sqlValue(server, `SELECT COUNT(*) FROM snapshots WHERE user_id = ${Number(userId)}`));
}

// The admin command line against the server's storage; throws unless it exits 0.
export async function setQuota(server, login, mb) {
  const res = await runVmshare(['user', 'set-quota', login, String(mb)], { env: server.env });
  if (res.code !== 0) throw new Error(`set-quota ${login} ${mb}: ${res.code} ${res.stdout}${res.stderr}`);
}

export const snapshotDir = (server, userId) => path.join(server.dataDir, 'snapshots', String(userId));
export const snapshotPath = (server, userId, name) => path.join(snapshotDir(server, userId), name);
export const snapshotFiles = (server, userId) => {
  const dir = snapshotDir(server, userId);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
// What the quota should hold for the files present: each file's size in MiB, rounded up.
export const filesMb = (server, userId) =>
  snapshotFiles(server, userId).reduce((sum, f) => sum + Math.ceil(statSync(path.join(snapshotDir(server, userId), f)).size / MiB), 0);

export const sha256 = (data) => createHash('sha256').update(data).digest('hex');
export const sha256File = (file) => sha256(readFileSync(file));

export async function qemuImgInfo(file) {
  const { stdout } = await run('qemu-img', ['info', '--force-share', '--output=json', file], { timeout: 30000 });
  return JSON.parse(stdout);
}

// A file from the guest's FAT partition (partition 1 at 1 MiB) inside a qcow2, read offline.
export async function readGuestFile(qcow2, name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-snap-'));
  try {
    const raw = path.join(dir, 'disk.raw');
    await run('qemu-img', ['convert', '--force-share', '-O', 'raw', qcow2, raw], { timeout: 60000 });
    const { stdout } = await run('mtype', ['-i', `${raw}@@1M`, `::${name}`], { timeout: 15000 });
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
