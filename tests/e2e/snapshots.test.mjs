// Snapshots with the real tiny guest under TCG: a file written in the guest over RFB lands in a
// standalone qcow2 (seen offline and after booting the snapshot), the quota holds under
// concurrency, ownership and crafted names, Range downloads, and restarts reconcile.
// One server and its VMs are shared by the tests in order (booting is the slow part).
import assert from 'node:assert/strict';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { RfbClient } from './lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from './lib/screen_text.mjs';
import { api, registerUser, sleep } from './lib/server.mjs';
import {
  MiB, filesMb, qemuImgInfo, quotaOf, readGuestFile, setQuota, sha256, sha256File, snapshotFiles, snapshotPath,
  snapshotRows,
} from './lib/snapshot_helpers.mjs';
import { consoleUrl, launch, saveArtifact, startVmServer, stopServers, vmStatus, waitFor } from './lib/vm_helpers.mjs';

const BOOT_MS = 150000;  // shared 2-core hosts: the prompt takes 30-90 s under TCG
const PROOF = /snapshot.{0,2}proof/i;

describe('snapshots with the real tiny guest', () => {
  const servers = [];
  let server, owner, other, snap, snapSha, rfb;
  const post = (path, json, user = owner, opts = {}) => api(server, 'POST', path, { token: user.token, json, timeoutMs: 120000, ...opts });
  const list = async (user = owner) => {
    const res = await api(server, 'GET', '/get_user_snapshots', { token: user.token });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const download = (name, headers = {}, user = owner) =>
    api(server, 'GET', `/snapshots/${name}/download`, { token: user.token, headers, timeoutMs: 60000 });
  // Connects over RFB and waits for the shell prompt; saves the screen if it never comes.
  async function consoleAtPrompt(vmid, label) {
    const client = await RfbClient.connect(consoleUrl(server, vmid), { cookie: owner.cookie, origin: server.url });
    await waitForScreenText(async () => client.toPng(), PROMPT, BOOT_MS).catch((e) => {
      if (e.png) saveArtifact(`snapshots-${label}-no-prompt.png`, e.png);
      throw e;
    });
    return client;
  }
  async function restart() {
    await server.stop({ keepData: true });
    // Same data folder and the same database (not a fresh schema): a restart, not a new server.
    const env = { VMSHARE_DISCONNECT_GRACE_S: '600' };
    if (server.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: server.env.DATABASE_URL, REDIS_URL: server.env.REDIS_URL });
    server = await startVmServer({ dataDir: server.dataDir, env });
    servers.push(server);
  }

  before(async () => {
    // A long grace: the VM must survive the gaps between tests without a viewer.
    server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } });
    servers.push(server);
    [owner, other] = await Promise.all([registerUser(server), registerUser(server)]);
  });
  after(async () => {
    rfb?.close();
    await stopServers(...servers.reverse());
  });

  test('a file written in the guest over RFB is in the standalone snapshot (read offline)', async () => {
    const vmid = await launch(server, owner);
    rfb = await consoleAtPrompt(vmid, 'first');
    await rfb.typeText('echo snapshot-proof > /mnt/disk/note.txt\n');
    await sleep(2000);  // the FAT is mounted sync, so the write reaches the disk at once

    const t0 = Date.now();
    const res = await post('/snapshot', { os_type: 'tiny' });
    const ms = Date.now() - t0;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'ok');
    snap = res.body.snapshot;
    assert.match(snap, new RegExp(`^${owner.id}__tiny__${vmid}\\.qcow2$`));
    for (const k of ['size_mb', 'total_mb', 'cap_mb']) assert.equal(typeof res.body[k], 'number', k);
    assert.equal(res.body.charged_from, 'base+overlay');
    assert.equal(res.body.cap_mb, 300);
    assert.equal(res.body.total_mb, res.body.size_mb);
    const file = snapshotPath(server, owner.id, snap);
    assert.equal(res.body.size_mb, Math.ceil(statSync(file).size / MiB));
    assert.equal((await vmStatus(server, owner)).body.vmid, vmid, 'the VM is still running');
    console.log(`# snapshot of the booted tiny guest: ${ms} ms, ${res.body.size_mb} MB`);

    const info = await qemuImgInfo(file);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['backing-filename'], undefined, 'standalone: no backing file');
    assert.equal(info['full-backing-filename'], undefined);
    assert.match(await readGuestFile(file, 'note.txt'), /^snapshot-proof\s*$/);
    snapSha = sha256File(file);
    assert.deepEqual(await quotaOf(server, owner.id), { stored: res.body.size_mb, capacity: 300 });
  });

  test('/run_snapshot boots the snapshot: the file is on screen, the snapshot unchanged', async () => {
    assert.ok(snap, 'needs the snapshot from the previous test');
    rfb.close();
    rfb = undefined;
    const stopped = await post('/vm/stop', {});
    assert.equal(stopped.status, 200, stopped.text);
    await waitFor('VM stopped', async () => (await vmStatus(server, owner)).status === 404, 30000);

    const res = await post('/run_snapshot', { snapshot: snap });
    assert.equal(res.status, 200, res.text);
    const fromSnapVmid = res.body.vm.vmid;
    assert.equal(res.body.vm.os_type, 'tiny');
    assert.equal(res.body.redirect, `/console/${fromSnapVmid}`);
    assert.equal(res.body.ws_path, `/ws/${fromSnapVmid}`);

    rfb = await consoleAtPrompt(fromSnapVmid, 'from-snapshot');
    await rfb.typeText('cat /mnt/disk/note.txt\n');
    const seen = await waitForScreenText(async () => rfb.toPng(), new RegExp(`note\\S*\\s[\\s\\S]*${PROOF.source}`, 'i'), 30000)
      .catch((e) => { if (e.png) saveArtifact('snapshots-no-proof.png', e.png); throw e; });
    saveArtifact('snapshots-proof.png', seen.png);
    // The guest writes to its overlay; the snapshot it booted from stays as it was.
    await rfb.typeText('echo changed > /mnt/disk/note.txt\n');
    await sleep(2000);
    assert.equal(sha256File(snapshotPath(server, owner.id, snap)), snapSha, 'booting never modifies the snapshot');

    const listed = await list();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].name, snap);
    assert.equal(listed[0].os_type, 'tiny');
    assert.equal(typeof listed[0].vmid, 'string');
    assert.equal(typeof listed[0].size_mb, 'number');
    assert.ok(!Number.isNaN(Date.parse(listed[0].modified)), listed[0].modified);
  });

  test('removing a snapshot a running VM booted from is 409; nothing changes', async () => {
    const before = await quotaOf(server, owner.id);
    const res = await post('/remove_snapshot', { snapshot: snap });
    assert.equal(res.status, 409, res.text);
    assert.ok(existsSync(snapshotPath(server, owner.id, snap)));
    assert.deepEqual(await quotaOf(server, owner.id), before);
  });

  test('another user and crafted names get 404 on run, remove and download', async () => {
    const otherList = await list(other);
    assert.deepEqual(otherList, [], 'nobody else sees the snapshot');
    const crafted = ['../vmshare.db', '%2e%2e%2fvmshare.db', '%2e%2e%2f', '/etc/passwd', `${server.dataDir}/vmshare.db`,
      `snapshots/${owner.id}/${snap}`, `${other.id}__tiny__x.qcow2`, `${snap}/../${snap}`, '..', ''];
    const attempts = [[other, snap], ...crafted.map((n) => [owner, n]), ...crafted.map((n) => [other, n])];
    for (const [user, name] of attempts) {
      for (const route of ['/run_snapshot', '/remove_snapshot']) {
        const res = await post(route, { snapshot: name }, user);
        // An empty name may be refused as a bad body; it must never be found.
        if (name === '') assert.ok([400, 404, 422].includes(res.status), `${route} '' -> ${res.status}`);
        else assert.equal(res.status, 404, `${route} ${name} as ${user.login}: ${res.status} ${res.text}`);
      }
      if (name === '') continue;
      const dl = await download(encodeURIComponent(name), {}, user);
      assert.equal(dl.status, 404, `download ${name}: ${dl.status}`);
      const rawDl = await download(name, {}, user);  // unencoded: the router may split or normalise it
      assert.ok([400, 404].includes(rawDl.status), `raw download ${name}: ${rawDl.status}`);
    }
    assert.equal((await vmStatus(server, other)).status, 404, 'no VM was started for the other user');
    assert.equal((await list()).length, 1);
    assert.ok(existsSync(snapshotPath(server, owner.id, snap)));
    assert.equal(sha256File(snapshotPath(server, owner.id, snap)), snapSha);
  });

  test('download: whole file, Range 206, resume from an offset, 416', async () => {
    const file = snapshotPath(server, owner.id, snap);
    const size = statSync(file).size;
    const whole = await download(snap);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['accept-ranges'], 'bytes');
    assert.equal(whole.headers['content-disposition'], `attachment; filename="${snap}"`);
    assert.equal(Number(whole.headers['content-length']), size);
    assert.equal(sha256(whole.raw), snapSha);

    const first = await download(snap, { Range: 'bytes=0-1023' });
    assert.equal(first.status, 206);
    assert.equal(first.headers['content-range'], `bytes 0-1023/${size}`);
    assert.equal(first.raw.length, 1024);
    assert.ok(first.raw.equals(whole.raw.subarray(0, 1024)));
    assert.equal(first.raw.subarray(0, 4).toString('latin1'), 'QFI\xfb', 'qcow2 magic');

    // An interrupted download resumed from where it stopped reproduces the file.
    const cut = Math.floor(size / 3) + 17;
    const rest = await download(snap, { Range: `bytes=${cut}-` });
    assert.equal(rest.status, 206);
    assert.equal(rest.headers['content-range'], `bytes ${cut}-${size - 1}/${size}`);
    assert.equal(sha256(Buffer.concat([whole.raw.subarray(0, cut), rest.raw])), snapSha);

    const tail = await download(snap, { Range: 'bytes=-100' });
    assert.equal(tail.status, 206);
    assert.ok(tail.raw.equals(whole.raw.subarray(size - 100)));

    const beyond = await download(snap, { Range: `bytes=${size}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${size}`);
    const anonymous = await api(server, 'GET', `/snapshots/${snap}/download`);
    assert.equal(anonymous.status, 401);
  });

  test('over quota: 413, no new file, no row, nothing charged', async () => {
    const { stored } = await quotaOf(server, owner.id);
    await setQuota(server, owner.login, stored + 1);
    const filesBefore = snapshotFiles(server, owner.id);
    const res = await post('/snapshot', {});
    assert.equal(res.status, 413, res.text);
    assert.equal(typeof res.body.detail, 'string');
    assert.deepEqual(snapshotFiles(server, owner.id), filesBefore);
    assert.deepEqual(await quotaOf(server, owner.id), { stored, capacity: stored + 1 });
    assert.equal(await snapshotRows(server, owner.id), 1);
    assert.equal((await list()).length, 1);
  });

  test('20 concurrent snapshots against a tight quota never pass capacity; stored == files', async () => {
    const { stored } = await quotaOf(server, owner.id);
    const oneMb = (await list())[0].size_mb;
    // Room for about three more snapshots of the VM booted from the snapshot.
    const capacity = stored + 3 * oneMb + Math.ceil(oneMb / 2) + 2;
    await setQuota(server, owner.login, capacity);

    let maxSeen = 0, sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxSeen = Math.max(maxSeen, (await quotaOf(server, owner.id)).stored);
        await sleep(50);
      }
    })();
    const results = await Promise.all(Array.from({ length: 20 }, () => post('/snapshot', {}, owner, { timeoutMs: 600000 })));
    sampling = false;
    await sampler;

    const codes = results.map((r) => r.status);
    const ok = results.filter((r) => r.status === 200);
    assert.ok(codes.every((c) => c === 200 || c === 413), `only 200 or 413: ${codes}`);
    assert.ok(ok.length >= 1 && ok.length <= 4, `a few fit: ${codes}`);
    assert.ok(codes.includes(413), `the rest are refused: ${codes}`);
    for (const r of ok) {
      assert.equal(r.body.charged_from, 'snapshot');
      assert.ok(r.body.total_mb <= capacity, `total ${r.body.total_mb} <= ${capacity}`);
    }
    assert.equal(new Set(ok.map((r) => r.body.snapshot)).size, ok.length, 'distinct names');
    assert.ok(maxSeen <= capacity, `stored peaked at ${maxSeen} of ${capacity}`);

    const after = await quotaOf(server, owner.id);
    const listed = await list();
    assert.equal(listed.length, 1 + ok.length);
    assert.equal(await snapshotRows(server, owner.id), 1 + ok.length, 'no pending rows left');
    assert.equal(snapshotFiles(server, owner.id).length, 1 + ok.length, 'no partial files left');
    assert.ok(after.stored <= capacity);
    assert.equal(after.stored, listed.reduce((s, r) => s + r.size_mb, 0), 'stored == sum of the listing');
    assert.equal(after.stored, filesMb(server, owner.id), 'stored == sum of the files in MB, rounded up');
    for (let i = 1; i < listed.length; i++)
      assert.ok(Date.parse(listed[i - 1].modified) >= Date.parse(listed[i].modified), 'newest first');
    console.log(`# concurrent: ${ok.length} of 20 fit in ${capacity} MB, peak stored ${maxSeen}`);
  });

  test('/remove_snapshot refunds: total_mb drops by freed_mb, the file is gone', async () => {
    const victim = (await list()).find((s) => s.name !== snap);
    assert.ok(victim, 'needs a snapshot from the concurrent test');
    const before = await quotaOf(server, owner.id);
    const res = await post('/remove_snapshot', { snapshot: victim.name });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      { status: res.body.status, removed: res.body.removed, snapshot: res.body.snapshot, freed_mb: res.body.freed_mb },
      { status: 'ok', removed: true, snapshot: victim.name, freed_mb: victim.size_mb });
    assert.equal(res.body.total_mb, before.stored - res.body.freed_mb);
    assert.equal((await quotaOf(server, owner.id)).stored, res.body.total_mb);
    assert.ok(!existsSync(snapshotPath(server, owner.id, victim.name)));
    assert.ok(!(await list()).some((s) => s.name === victim.name));
    const again = await post('/remove_snapshot', { snapshot: victim.name });
    assert.equal(again.status, 404);
    assert.equal(filesMb(server, owner.id), res.body.total_mb);
  });

  test('a restart keeps the snapshots; a file deleted by hand is dropped and refunded', async () => {
    rfb?.close();
    rfb = undefined;
    const names = (await list()).map((s) => s.name);
    const stored = (await quotaOf(server, owner.id)).stored;
    await restart();
    assert.deepEqual((await list()).map((s) => s.name), names, 'the same snapshots, same order');
    assert.equal((await quotaOf(server, owner.id)).stored, stored);
    // Whether the VM booted from the snapshot survives the restart is the VM manager's adoption,
    // tested in vm_recovery.test.mjs; here only the snapshots matter.

    const gone = (await list()).find((s) => s.name !== snap);
    assert.ok(gone, 'needs a second snapshot');
    unlinkSync(snapshotPath(server, owner.id, gone.name));
    await restart();
    const after = await list();
    assert.deepEqual(after.map((s) => s.name), names.filter((n) => n !== gone.name));
    assert.equal((await quotaOf(server, owner.id)).stored, stored - gone.size_mb);
    assert.equal((await quotaOf(server, owner.id)).stored, filesMb(server, owner.id));

    // Once the VM booted from it stops, the first snapshot can go too.
    if ((await vmStatus(server, owner)).status === 200) assert.equal((await post('/vm/stop', {})).status, 200);
    await waitFor('VM stopped', async () => (await vmStatus(server, owner)).status === 404, 30000);
    const removed = await post('/remove_snapshot', { snapshot: snap });
    assert.equal(removed.status, 200, removed.text);
    assert.ok(!existsSync(snapshotPath(server, owner.id, snap)));
  });
});
