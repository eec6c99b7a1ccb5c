// Booting a snapshot and removing it, at the same moment (issue 12 item 7): exactly one of the
// two wins every time. Either the VM boots from the snapshot and the removal gets 409, or the
// snapshot is removed and the boot gets 404; never both (a VM on a deleted, uncounted file) and
// never a 5xx. The quota always equals the files on disk. VMs are bench/fake_rfb_qemu.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { api, registerUser, sleep } from './lib/server.mjs';
import { filesMb, quotaOf, snapshotPath } from './lib/snapshot_helpers.mjs';
import { waitFor } from './lib/vm_helpers.mjs';

const USERS = 6;
const ROUNDS = 6;

let server;
before(async () => { server = await startFakeVmServer({ env: { VMSHARE_MAX_VMS: String(USERS + 2) } }); });
after(async () => {
  if (!server) return;
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

const call = (u, method, route, json) => api(server, method, route, { token: u.token, json, timeoutMs: 60000 });
const vmStatus = (u) => call(u, 'GET', '/vm/status');
const listed = async (u) => (await call(u, 'GET', '/get_user_snapshots')).body;

async function stopVm(u) {
  if ((await vmStatus(u)).status !== 200) return;
  assert.equal((await call(u, 'POST', '/vm/stop', {})).status, 200);
  await waitFor('the VM gone', async () => (await vmStatus(u)).status === 404, 30000, 100);
}

// A fresh snapshot of a VM that has stopped again; resolves its name.
async function freshSnapshot(u) {
  const run = await call(u, 'POST', '/run-script', { os_type: 'fake' });
  assert.equal(run.status, 200, run.text);
  const snap = await call(u, 'POST', '/snapshot', { os_type: 'fake' });
  assert.equal(snap.status, 200, snap.text);
  await stopVm(u);
  return snap.body.snapshot;
}

async function assertQuotaMatchesFiles(u) {
  const rows = await listed(u);
  const listedMb = rows.reduce((s, r) => s + r.size_mb, 0);
  assert.equal(listedMb, filesMb(server, u.id), `user ${u.id}: listed snapshots vs files on disk`);
  assert.equal((await quotaOf(server, u.id)).stored, listedMb, `user ${u.id}: stored quota vs snapshots`);
}

// One pair: /run_snapshot and /remove_snapshot sent together (the removal a few ms either side).
async function race(u, name, skewMs) {
  const boot = sleep(Math.max(0, -skewMs)).then(() => call(u, 'POST', '/run_snapshot', { snapshot: name }));
  const remove = sleep(Math.max(0, skewMs)).then(() => call(u, 'POST', '/remove_snapshot', { snapshot: name }));
  const [b, r] = await Promise.all([boot, remove]);
  assert.ok([200, 404].includes(b.status), `run_snapshot: ${b.status} ${b.text}`);
  assert.ok([200, 409].includes(r.status), `remove_snapshot: ${r.status} ${r.text}`);
  assert.equal((b.status === 200) + (r.status === 200), 1, `exactly one wins: run ${b.status}, remove ${r.status}`);
  const file = snapshotPath(server, u.id, name);
  if (b.status === 200) {
    assert.match(r.body.detail, /booting|running VM/);
    const vm = await vmStatus(u);
    assert.equal(vm.status, 200, 'the VM runs');
    assert.ok(existsSync(file), 'its snapshot is still there');
    assert.deepEqual((await listed(u)).map((s) => s.name), [name]);
    await assertQuotaMatchesFiles(u);
    // Once the VM is stopped, the snapshot can go.
    await stopVm(u);
    assert.equal((await call(u, 'POST', '/remove_snapshot', { snapshot: name })).status, 200);
  } else {
    assert.match(b.body.detail, /No such snapshot/);
    assert.equal((await vmStatus(u)).status, 404, 'no VM started from a removed snapshot');
    assert.equal(existsSync(file), false);
  }
  assert.deepEqual(await listed(u), []);
  await assertQuotaMatchesFiles(u);
  assert.equal((await quotaOf(server, u.id)).stored, 0);
  return b.status === 200 ? 'boot' : 'remove';
}

test(`${USERS} users x ${ROUNDS} rounds of /run_snapshot racing /remove_snapshot: exactly one wins, quota right`, { timeout: 20 * 60 * 1000 }, async () => {
  const users = await Promise.all(Array.from({ length: USERS }, () => registerUser(server)));
  const wins = { boot: 0, remove: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const names = await Promise.all(users.map((u) => freshSnapshot(u)));
    // Skews from -20 to +20 ms, so both orders (and true ties) happen.
    const outcomes = await Promise.all(users.map((u, i) => race(u, names[i], ((round * USERS + i) % 5) * 10 - 20)));
    for (const o of outcomes) wins[o] += 1;
  }
  console.log(`run_snapshot won ${wins.boot}, remove_snapshot won ${wins.remove} of ${USERS * ROUNDS} races`);
  assert.equal(wins.boot + wins.remove, USERS * ROUNDS);
});

test('a removal while a VM runs from the snapshot: 409, and the snapshot is intact', async () => {
  const u = await registerUser(server);
  const name = await freshSnapshot(u);
  assert.equal((await call(u, 'POST', '/run_snapshot', { snapshot: name })).status, 200);
  const refused = await call(u, 'POST', '/remove_snapshot', { snapshot: name });
  assert.equal(refused.status, 409);
  assert.match(refused.body.detail, /stop it first/);
  assert.ok(existsSync(snapshotPath(server, u.id, name)));
  await assertQuotaMatchesFiles(u);
  await stopVm(u);
  assert.equal((await call(u, 'POST', '/remove_snapshot', { snapshot: name })).status, 200);
  await assertQuotaMatchesFiles(u);
});
