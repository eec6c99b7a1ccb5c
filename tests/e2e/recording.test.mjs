// Console recording and replay (issue 15 item 2) against bench/fake_rfb_qemu: turning recording
// on and off, the quota it charges (reserved up front, settled to the file), its caps, listing,
// download, removal, other users kept out, and the replay WebSocket: what it plays is what a live
// viewer of the same VM received, pixel for pixel.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { fakeCatalog, startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient, openConsoleSocket } from './lib/rfb_client.mjs';
import { api, registerUser, runVmshare } from './lib/server.mjs';
import { waitFor } from './lib/vm_helpers.mjs';

let server;
before(async () => {
  // Two profiles on the fake image: "fake", and "fakerec", whose launches are always recorded.
  const images = await fakeCatalog();
  const catalog = JSON.parse(readFileSync(images, 'utf8'));
  catalog.profiles.push({ ...catalog.profiles[0], name: 'fakerec', title: 'Recorded', record: true });
  writeFileSync(images, JSON.stringify(catalog));
  server = await startFakeVmServer({ env: { VMSHARE_IMAGES: images } });
});
after(async () => {
  if (!server) return;
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

const wsBase = () => `ws://127.0.0.1:${server.port}`;
const origin = () => `http://127.0.0.1:${server.port}`;
async function runVm(user) {
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(res.status, 200, res.text);
  return res.body.vm.vmid;
}
const recording = (user, on) => api(server, 'POST', '/vm/recording', { token: user.token, json: { on } });
const stored = async (user) => (await api(server, 'GET', '/me', { token: user.token })).body.snapshot_stored_mb;
const list = async (user) => (await api(server, 'GET', '/recordings', { token: user.token })).body;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('recordings', () => {
  let owner, other, vmid, rec;
  before(async () => {
    owner = await registerUser(server);
    other = await registerUser(server);
    vmid = await runVm(owner);
  });

  test('on reserves quota, off settles it to the file, the list shows it ready', async () => {
    assert.equal((await api(server, 'GET', '/vm/recording', { token: owner.token })).body.recording, false);
    const on = await recording(owner, true);
    assert.equal(on.status, 200, on.text);
    assert.equal(on.body.recording, true);
    assert.match(on.body.id, /^rec-[0-9a-f]{16}$/);
    assert.equal(await stored(owner), 64, 'the size cap is reserved before anything is written');
    const again = await recording(owner, true);
    assert.equal(again.body.id, on.body.id, 'turning it on twice keeps one recording');
    assert.equal((await list(owner))[0].state, 'recording');
    await sleep(700);
    const off = await recording(owner, false);
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.recording, false);
    rec = off.body.last;
    assert.equal(rec.id, on.body.id);
    assert.equal(rec.state, 'ready');
    assert.ok(rec.duration_ms > 0, JSON.stringify(rec));
    assert.ok(rec.size_mb >= 1 && rec.size_mb < 64, JSON.stringify(rec));
    assert.equal(await stored(owner), rec.size_mb, 'settled to the real size');
    assert.deepEqual((await list(owner)).map((r) => r.id), [rec.id]);
    assert.deepEqual(await list(other), []);
    // vmshare's own connection is nobody's viewer.
    assert.equal((await api(server, 'GET', '/vm/status', { token: owner.token })).body.viewers, 0);
  });

  test('download serves the file; ranges work', async () => {
    const res = await api(server, 'GET', `/recordings/${rec.id}/download`, { token: owner.token });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.match(res.headers['content-disposition'], new RegExp(`${rec.id}\\.vmsrec`));
    const part = await api(server, 'GET', `/recordings/${rec.id}/download`, { token: owner.token, headers: { Range: 'bytes=0-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.text, 'VMSREC01RFB 003.008\n');
    const file = path.join(server.dataDir, 'recordings', String(owner.id), `${rec.id}.vmsrec`);
    assert.ok(existsSync(file));
    assert.equal(Number(res.headers['content-length']), (await import('node:fs')).statSync(file).size);
  });

  test('the replay plays what a live viewer of the VM received', async () => {
    const live = await RfbClient.connect(`${wsBase()}/ws/${vmid}`, { token: owner.token, origin: origin(), novncPixelFormat: true });
    await waitFor('a live frame', () => live.updates > 0, 10000);
    live.close();
    const replay = await RfbClient.connect(`${wsBase()}/ws/replay/${rec.id}?speed=4`, { token: owner.token, origin: origin(), novncPixelFormat: true });
    assert.equal(replay.width, live.width);
    assert.equal(replay.height, live.height);
    await waitFor('a replayed frame', () => replay.updates > 0, 10000);
    assert.ok(replay.nonBlackPixels() > 0);
    assert.ok(replay.fb.equals(live.fb), 'the replayed frame equals the live frame');
    // The stream ends with a normal close once the recording has been played.
    await waitFor('the replay to end', () => replay.closed, rec.duration_ms / 4 + 10000);
    assert.equal(replay.closeInfo.code, 1000);
    assert.equal(replay.closeInfo.reason, 'end of recording');
    assert.ok(replay.updates >= 2, `${replay.updates} updates`);
  });

  test('a seek starts at a full frame; bad parameters are refused before the upgrade', async () => {
    const seek = await RfbClient.connect(`${wsBase()}/ws/replay/${rec.id}?from=${rec.duration_ms}&speed=1`, { token: owner.token, origin: origin(), novncPixelFormat: true });
    await waitFor('a frame after the seek', () => seek.updates > 0, 5000);
    assert.ok(seek.nonBlackPixels() > 0, 'the screen is whole at once after a seek');
    seek.close();
    for (const q of ['speed=3', 'from=-5', 'from=abc']) {
      await assert.rejects(openConsoleSocket(`${wsBase()}/ws/replay/${rec.id}?${q}`, { token: owner.token, origin: origin() }),
        (e) => e.status === 422, q);
    }
  });

  test('a replay takes no large message from its viewer: it is cut, not played to its end', async () => {
    const ws = await openConsoleSocket(`${wsBase()}/ws/replay/${rec.id}?speed=1`, { token: owner.token, origin: origin() });
    const closed = new Promise((r) => ws.on('close', (code) => r(code)));
    ws.send(Buffer.from('RFB 003.008\n'));
    ws.send(Buffer.from([1]));  // security None
    ws.send(Buffer.from([1]));  // ClientInit
    ws.send(Buffer.alloc(1 << 20));
    const code = await Promise.race([closed, sleep(5000).then(() => 'still open')]);
    ws.terminate();
    // 1009 when the close frame arrives before the reset the unread rest of the message causes.
    assert.ok(code === 1009 || code === 1006, `closed with ${code}`);
  });

  test("another user's recording, a crafted id, and no credentials are refused", async () => {
    for (const id of [rec.id, 'rec-0000000000000000', '..%2f..%2fvmshare.db', 'rec-XYZ']) {
      assert.equal((await api(server, 'GET', `/recordings/${id}/download`, { token: other.token })).status, 404, id);
      assert.equal((await api(server, 'DELETE', `/recordings/${id}`, { token: other.token })).status, 404, id);
      await assert.rejects(openConsoleSocket(`${wsBase()}/ws/replay/${id}`, { token: other.token, origin: origin() }),
        (e) => e.status === 404, id);
    }
    await assert.rejects(openConsoleSocket(`${wsBase()}/ws/replay/${rec.id}`, { origin: origin() }), (e) => e.status === 401);
    await assert.rejects(openConsoleSocket(`${wsBase()}/ws/replay/${rec.id}`, { token: owner.token, origin: 'http://evil.example' }),
      (e) => e.status === 403);
    assert.equal((await recording(other, true)).status, 404, 'no VM, nothing to record');
    // Polled by the dashboard: no VM is an answer, not an error (a 404 is a console error there).
    const idle = await api(server, 'GET', '/vm/recording', { token: other.token });
    assert.equal(idle.status, 200, idle.text);
    assert.deepEqual(idle.body, { recording: false, vmid: null });
    assert.equal((await api(server, 'POST', '/vm/recording', { token: owner.token, json: { on: 'yes' } })).status, 422);
  });

  test('remove gives the quota back and deletes the file', async () => {
    const res = await api(server, 'DELETE', `/recordings/${rec.id}`, { token: owner.token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.freed_mb, rec.size_mb);
    assert.equal(res.body.total_mb, 0);
    assert.equal(await stored(owner), 0);
    assert.deepEqual(await list(owner), []);
    assert.deepEqual(readdirSync(path.join(server.dataDir, 'recordings', String(owner.id))), []);
    assert.equal((await api(server, 'DELETE', `/recordings/${rec.id}`, { token: owner.token })).status, 404);
  });

  test('a recording stops itself at its cap (what is left of the quota) and when the VM ends', async () => {
    const cli = await runVmshare(['user', 'set-quota', owner.login, '3'], { env: server.env });
    assert.equal(cli.code, 0, cli.stderr);
    const on = await recording(owner, true);
    assert.equal(on.status, 200, on.text);
    assert.equal(on.body.reserved_mb, 3);
    await waitFor('the cap to end the recording', async () => (await list(owner))[0]?.state === 'ready', 15000);
    const capped = (await list(owner))[0];
    assert.ok(capped.size_mb <= 3, JSON.stringify(capped));
    assert.equal((await api(server, 'GET', '/vm/recording', { token: owner.token })).body.recording, false);
    // The quota is now (nearly) full: nothing is written and the answer says why.
    await runVmshare(['user', 'set-quota', owner.login, String(capped.size_mb)], { env: server.env });
    const full = await recording(owner, true);
    assert.equal(full.status, 413, full.text);
    assert.match(full.body.detail, /quota/i);
    assert.equal((await list(owner)).length, 1, 'nothing half-made');

    await runVmshare(['user', 'set-quota', owner.login, '300'], { env: server.env });
    const again = await recording(owner, true);
    assert.equal(again.status, 200, again.text);
    await sleep(300);  // a few frames: a recording that caught none is dropped, not listed
    const stop = await api(server, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 30000 });
    assert.equal(stop.status, 200, stop.text);
    await waitFor('the VM end to end the recording', async () => (await list(owner)).every((r) => r.state === 'ready'), 15000);
    assert.equal((await list(owner)).length, 2);
    const total = (await list(owner)).reduce((s, r) => s + r.size_mb, 0);
    assert.equal(await stored(owner), total, 'every recording is charged its size, no more');
  });

  test('a profile marked "record" records its launches from the start', async () => {
    const user = await registerUser(server);
    const run = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fakerec' }, timeoutMs: 30000 });
    assert.equal(run.status, 200, run.text);
    const status = await api(server, 'GET', '/vm/recording', { token: user.token });
    assert.equal(status.body.recording, true, status.text);
    await sleep(300);
    const off = await recording(user, false);
    assert.equal(off.body.last.state, 'ready');
    assert.equal(off.body.last.os_type, 'fakerec');
    await api(server, 'POST', '/vm/stop', { token: user.token, timeoutMs: 30000 });
  });
});
