// Several nodes as one service (issue 13): three vmshare nodes on 127.0.0.2-4 with fake QEMU,
// sharing PostgreSQL and Redis, nginx round-robin in front (no stickiness). What a user sees
// must not depend on which node answers: VM routes, consoles, snapshots, ISOs, drops and replays.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CLUSTER_KEY, startCluster, startNginx } from './lib/cluster.mjs';
import { fakeProcs } from './lib/fake_qemu.mjs';
import { multipart } from './lib/multipart.mjs';
import { RfbClient, openConsoleSocket } from './lib/rfb_client.mjs';
import { STORAGE, api, randomSuffix, registerUser, runVmshare } from './lib/server.mjs';
import { waitFor } from './lib/vm_helpers.mjs';

const skip = STORAGE !== 'production' ? 'cluster mode needs PostgreSQL and Redis (VMSHARE_E2E_STORAGE=production)' : false;

const launch = (server, user, os_type = 'fake') => api(server, 'POST', '/run-script', { token: user.token, json: { os_type } });
const status = (server, user) => api(server, 'GET', '/vm/status', { token: user.token });
// A drop's multipart body: parts named "files".
function dropBody(files) {
  const boundary = `----vmshare${randomSuffix(8)}`;
  const parts = files.map(({ name, data }) => Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\n\r\n`),
    Buffer.from(data), Buffer.from('\r\n')]));
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } };
}
const drop = (server, user, files) => api(server, 'POST', '/vm/drop', { token: user.token, ...dropBody(files), timeoutMs: 60000 });
// The same body sent chunked (no Content-Length), in two writes.
function dropChunked(server, user, files) {
  const { body, headers } = dropBody(files);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host, port: server.port, method: 'POST', path: '/vm/drop', agent: false,
      headers: { ...headers, Authorization: `Bearer ${user.token}` } }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);  // after a response: ignored (a refusal may come before the body's end)
    req.write(body.subarray(0, 100));
    setTimeout(() => req.end(body.subarray(100)), 50);
  });
}
const stored = async (server, user) => (await api(server, 'GET', '/me', { token: user.token })).body.snapshot_stored_mb;
const dropFolders = (server) => {
  const dir = path.join(server.dataDir, 'drops');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('cluster of three nodes behind nginx', { skip }, () => {
  let cluster, front;
  before(async () => {
    cluster = await startCluster({ env: { VMSHARE_DROP_MAX_MB: '16' } });
    front = await startNginx(cluster.nodes);
    cluster.nginx = front;
  });
  after(async () => { if (cluster) await cluster.stop(); });

  const nodeOf = async (vmid) => cluster.psql(`SELECT node FROM vms WHERE vmid = '${vmid}'`);
  const serverOf = (nodeId) => cluster.nodes.find((n) => n.nodeId === nodeId);
  const notOwner = (nodeId) => cluster.nodes.find((n) => n.nodeId !== nodeId);
  const fakesEverywhere = async () => (await Promise.all(cluster.nodes.map((n) => fakeProcs(n.dataDir)))).flat();

  test('one user round-robin across nodes: one VM, every node answers about it', async () => {
    const user = await registerUser(front);
    const first = await launch(front, user);
    assert.equal(first.status, 200, first.text);
    const vmid = first.body.vm.vmid;
    for (let i = 0; i < 6; ++i) {  // nginx sends each to the next node
      const again = await launch(front, user);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.vm.vmid, vmid);
      const s = await status(front, user);
      assert.equal(s.status, 200, s.text);
      assert.equal(s.body.vmid, vmid);
    }
    for (const node of cluster.nodes) {
      const s = await status(node, user);
      assert.equal(s.status, 200, `${node.nodeId}: ${s.text}`);
      assert.equal(s.body.vmid, vmid);
      const shot = await api(node, 'GET', '/vm/screenshot', { token: user.token });
      assert.equal(shot.status, 200, `${node.nodeId}: ${shot.text}`);
      assert.equal(shot.headers['content-type'], 'image/png');
      assert.ok(shot.raw.subarray(1, 4).toString() === 'PNG');
    }
    const owner = await nodeOf(vmid);
    const stop = await api(notOwner(owner), 'POST', '/vm/stop', { token: user.token });
    assert.equal(stop.status, 200, stop.text);
    const gone = await status(front, user);
    assert.equal(gone.status, 404, gone.text);
    assert.equal(await cluster.psql(`SELECT count(*) FROM vms WHERE user_id = ${user.id}`), '0');
  });

  test('concurrent launches of one user sent to different nodes give one VM', async () => {
    for (let round = 0; round < 3; ++round) {
      const user = await registerUser(front);
      const answers = await Promise.all(cluster.nodes.flatMap((n) => [launch(n, user), launch(n, user)]));
      for (const a of answers) assert.equal(a.status, 200, a.text);
      const vmids = new Set(answers.map((a) => a.body.vm.vmid));
      assert.equal(vmids.size, 1, `one VM, got ${[...vmids]}`);
      const [vmid] = vmids;
      assert.equal(await cluster.psql(`SELECT count(*) FROM vms WHERE user_id = ${user.id} AND state = 'running'`), '1');
      const procs = (await fakesEverywhere()).filter((p) => p.args.includes(vmid));
      assert.equal(procs.length, 1, 'one QEMU for the user across every node');
      const stop = await api(front, 'POST', '/vm/stop', { token: user.token });
      assert.equal(stop.status, 200, stop.text);
    }
  });

  test('a console opened through a node that does not run the VM streams', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const other = notOwner(await nodeOf(vmid));
    const rfb = await RfbClient.connect(`ws://${other.host}:${other.port}/ws/${vmid}`, { cookie: user.cookie, origin: other.url });
    try {
      await rfb.waitForUpdate(15000);
      const before = rfb.updates;
      rfb.requestUpdate(false);
      await rfb.waitForUpdate(15000);
      assert.ok(rfb.updates > before);
      assert.ok(rfb.width > 0 && rfb.height > 0);
      // Through nginx too (whichever node it picks).
      const viaFront = await RfbClient.connect(`ws://127.0.0.1:${front.port}/ws/${vmid}`, { cookie: user.cookie, origin: front.url });
      await viaFront.waitForUpdate(15000);
      viaFront.close();
      // Someone else's console is refused on every node before a byte reaches the VM.
      const stranger = await registerUser(front);
      await assert.rejects(RfbClient.connect(`ws://${other.host}:${other.port}/ws/${vmid}`, { cookie: stranger.cookie, origin: other.url }));
    } finally {
      rfb.close();
    }
    await api(front, 'POST', '/logout', { token: user.token });
    await waitFor('the VM ends on logout through any node', async () =>
      (await cluster.psql(`SELECT count(*) FROM vms WHERE vmid = '${vmid}'`)) === '0', 15000);
  });

  test('the internal channel: signed requests only, and its headers are refused from outside', async () => {
    const node = cluster.nodes[0];
    const res = await api(node, 'GET', '/me', { headers: { 'X-Vmshare-Node': 'node2' } });
    assert.equal(res.status, 400);
    const internal = { host: node.host, port: node.internalPort };
    const unsigned = await api(internal, 'GET', '/me');
    assert.equal(unsigned.status, 401);
    assert.match(unsigned.body.detail, /signed/);
    const forged = await api(internal, 'POST', '/internal/vm/end', {
      json: { vmid: 'x' },
      headers: { 'X-Vmshare-Node': 'node2', 'X-Vmshare-Time': String(Math.floor(Date.now() / 1000)), 'X-Vmshare-Nonce': '0'.repeat(32), 'X-Vmshare-Signature': 'a'.repeat(64) },
    });
    assert.equal(forged.status, 401);
    const ended = await api(node, 'POST', '/internal/vm/end', { json: { vmid: 'x' } });
    assert.equal(ended.status, 404, 'the internal route does not exist on the public listener');
    assert.ok(CLUSTER_KEY.length >= 32);
  });

  test('a snapshot taken on one node boots through another and downloads from any', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = await nodeOf(vmid);
    const snap = await api(notOwner(owner), 'POST', '/snapshot', { token: user.token, json: { os_type: 'fake' } });
    assert.equal(snap.status, 200, snap.text);
    assert.equal(await cluster.psql(`SELECT node FROM snapshots WHERE name = '${snap.body.snapshot}'`), owner);
    await api(front, 'POST', '/vm/stop', { token: user.token });
    const booted = await api(notOwner(owner), 'POST', '/run_snapshot', { token: user.token, json: { snapshot: snap.body.snapshot } });
    assert.equal(booted.status, 200, booted.text);
    assert.equal(await nodeOf(booted.body.vm.vmid), owner, 'booted on the node holding the file');
    for (const node of cluster.nodes) {
      const dl = await api(node, 'GET', `/snapshots/${snap.body.snapshot}/download`, { token: user.token, timeoutMs: 30000 });
      assert.equal(dl.status, 200, `${node.nodeId}: ${dl.status}`);
      assert.equal(dl.raw.subarray(0, 4).toString('latin1'), 'QFI\xfb');
      assert.equal(Number(dl.headers['content-length']), dl.raw.length);
    }
    await api(front, 'POST', '/vm/stop', { token: user.token });
  });

  test('an ISO uploaded on one node boots there when /run-iso reaches another', async () => {
    const user = await registerUser(front);
    const holder = cluster.nodes[2];
    const iso = Buffer.alloc(64 * 1024);
    iso.write('CD001', 0x8001, 'latin1');
    const { body, headers } = multipart('file', 'disk.iso', iso);
    const up = await api(holder, 'POST', '/api/post', { token: user.token, body, headers });
    assert.equal(up.status, 200, up.text);
    const booted = await api(cluster.nodes[0], 'POST', '/run-iso', { token: user.token });
    assert.equal(booted.status, 200, booted.text);
    assert.equal(booted.body.vm.os_type, 'custom');
    assert.equal(await nodeOf(booted.body.vm.vmid), holder.nodeId);
    await api(front, 'POST', '/vm/stop', { token: user.token });
    const none = await registerUser(front);
    assert.equal((await api(cluster.nodes[1], 'POST', '/run-iso', { token: none.token })).status, 404);
  });

  test('a drop sent to a node that does not run the VM reaches it; eject and downloads work from any node', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = serverOf(await nodeOf(vmid));
    const other = notOwner(owner.nodeId);
    const before = await stored(front, user);
    const res = await drop(other, user, [{ name: 'hello.txt', data: 'hello from the host\n' }, { name: 'big.bin', data: Buffer.alloc(3 << 20, 7) }]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.files.map((f) => [f.name, f.size]), [['hello.txt', 20], ['big.bin', 3 << 20]]);
    assert.equal(dropFolders(owner).length, 1, 'the stick is made on the VM\'s node');
    assert.deepEqual(dropFolders(other), [], 'nothing is kept on the node that took the upload');
    assert.equal(await stored(front, user), before + res.body.stick_mb);
    for (const node of cluster.nodes) {
      const s = await api(node, 'GET', '/vm/drop', { token: user.token });
      assert.equal(s.status, 200, `${node.nodeId}: ${s.text}`);
      assert.equal(s.body.vmid, vmid);
      assert.equal(s.body.state, 'plugged');
      assert.deepEqual(s.body.dropped.map((f) => f.name), ['hello.txt', 'big.bin']);
    }
    assert.equal((await drop(other, user, [{ name: 'b.txt', data: 'b' }])).status, 409, 'the owner\'s refusal comes back as it is');
    const out = await api(other, 'POST', '/vm/drop/eject', { token: user.token, timeoutMs: 60000 });
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.body.files.map((f) => f.name).sort(), ['big.bin', 'hello.txt']);
    const list = await api(other, 'GET', '/vm/drop/files', { token: user.token });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.length, 2);
    const file = await api(other, 'GET', '/vm/drop/files/hello.txt', { token: user.token });
    assert.equal(file.status, 200, file.text);
    assert.equal(file.text, 'hello from the host\n');
    assert.match(file.headers['content-disposition'], /filename="hello\.txt"/);
    const part = await api(other, 'GET', '/vm/drop/files/big.bin', { token: user.token, headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.ok(part.raw.equals(Buffer.alloc(100, 7)));
    assert.equal((await api(other, 'GET', '/vm/drop/files/nope.txt', { token: user.token })).status, 404);
    // A user without a VM anywhere: the page's question is still answered.
    const none = await registerUser(front);
    const idle = await api(other, 'GET', '/vm/drop', { token: none.token });
    assert.equal(idle.status, 200, idle.text);
    assert.equal(idle.body.state, 'none');
    assert.equal((await drop(other, none, [{ name: 'a', data: 'a' }])).status, 404);
    await api(front, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 });
    await waitFor('the stick removed with its VM', async () => dropFolders(owner).length === 0, 10000);
    assert.equal(await stored(front, user), before, 'the quota given back');
  });

  test('an oversized drop through another node is refused with 413 and leaves nothing', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = serverOf(await nodeOf(vmid));
    const other = notOwner(owner.nodeId);
    const before = await stored(front, user);
    // Within the route's body limit, so it travels to the owner, whose stick cap refuses it.
    const big = await drop(other, user, [{ name: 'big.bin', data: Buffer.alloc(16 << 20) }]);
    assert.equal(big.status, 413, big.text);
    assert.match(big.body.detail, /16 MB/);
    // Beyond the route's limit: refused by the node that took it, before anything is sent.
    const huge = await drop(other, user, [{ name: 'huge.bin', data: Buffer.alloc(17 << 20) }]);
    assert.equal(huge.status, 413, huge.text);
    // Chunked, so no node knows its size before it is too large: the owner has begun a stick when
    // its cap (or the route's limit on the node that took it) stops the body; the stick goes.
    const cut = await dropChunked(other, user, [{ name: 'huge.bin', data: Buffer.alloc(17 << 20) }]);
    assert.equal(cut.status, 413, cut.text);
    await waitFor('no stick left on any node', async () => cluster.nodes.every((n) => dropFolders(n).length === 0), 10000);
    assert.equal(await stored(front, user), before, 'quota unchanged');
    assert.equal((await api(other, 'GET', '/vm/drop', { token: user.token })).body.state, 'none');
    // A chunked body (no Content-Length) travels chunked; the owner takes it.
    const ok = await dropChunked(other, user, [{ name: 'a.txt', data: Buffer.alloc(200000, 1) }]);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(JSON.parse(ok.text).files, [{ name: 'a.txt', size: 200000 }]);
    await api(front, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 });
  });

  test('a recording replays through a node that does not hold it, as through its own', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = serverOf(await nodeOf(vmid));
    const other = notOwner(owner.nodeId);
    const on = await api(other, 'POST', '/vm/recording', { token: user.token, json: { on: true } });
    assert.equal(on.status, 200, on.text);
    await new Promise((r) => setTimeout(r, 700));
    const off = await api(other, 'POST', '/vm/recording', { token: user.token, json: { on: false } });
    assert.equal(off.status, 200, off.text);
    const rec = off.body.last;
    assert.equal(await cluster.psql(`SELECT node FROM recordings WHERE id = '${rec.id}'`), owner.nodeId);
    const play = async (node) => {
      const ws = await RfbClient.connect(`ws://${node.host}:${node.port}/ws/replay/${rec.id}?speed=4`,
        { cookie: user.cookie, origin: node.url, novncPixelFormat: true });
      await waitFor('the replay to end', () => ws.closed, rec.duration_ms / 4 + 10000);
      return ws;
    };
    const own = await play(owner);
    const relayed = await play(other);
    assert.equal(relayed.closeInfo.code, 1000);
    assert.equal(relayed.closeInfo.reason, 'end of recording');
    assert.ok(relayed.updates >= 1 && relayed.nonBlackPixels() > 0, `${relayed.updates} updates`);
    assert.equal(relayed.width, own.width);
    assert.ok(relayed.fb.equals(own.fb), 'the same last frame as through its own node');
    // Refusals are still HTTP statuses, decided before anything is relayed.
    const stranger = await registerUser(front);
    await assert.rejects(openConsoleSocket(`ws://${other.host}:${other.port}/ws/replay/${rec.id}`, { cookie: stranger.cookie, origin: other.url }),
      (e) => e.status === 404);
    await assert.rejects(openConsoleSocket(`ws://${other.host}:${other.port}/ws/replay/${rec.id}?speed=3`, { cookie: user.cookie, origin: other.url }),
      (e) => e.status === 422);
    await assert.rejects(openConsoleSocket(`ws://${other.host}:${other.port}/ws/replay/${rec.id}`, { cookie: user.cookie, origin: 'http://evil.example' }),
      (e) => e.status === 403);
    await api(front, 'POST', '/vm/stop', { token: user.token });
  });

  test('a drained node takes no new VM; its running VMs go on', async () => {
    const keeper = await registerUser(front);
    const kept = (await launch(cluster.nodes[0], keeper)).body.vm.vmid;
    const drained = await nodeOf(kept);
    const admin = serverOf(drained);
    const drain = await runVmshare(['node', 'drain', drained], { env: admin.env });
    assert.equal(drain.code, 0, drain.stderr);
    const list = await runVmshare(['node', 'list'], { env: admin.env });
    assert.match(list.stdout, new RegExp(`^${drained}\\s+draining\\s+1\\s`, 'm'), list.stdout);
    const users = await Promise.all([1, 2, 3, 4].map(() => registerUser(front)));
    for (const u of users) {
      const res = await launch(front, u);
      assert.equal(res.status, 200, res.text);
      assert.notEqual(await nodeOf(res.body.vm.vmid), drained);
    }
    assert.equal((await status(front, keeper)).body.vmid, kept, 'its VM still runs');
    assert.equal((await runVmshare(['node', 'undrain', drained], { env: admin.env })).code, 0);
    assert.equal((await runVmshare(['node', 'drain', 'no-such-node'], { env: admin.env })).code, 1);
    for (const u of [keeper, ...users]) await api(front, 'POST', '/vm/stop', { token: u.token });
  });

  test('/metrics: each node its own VMs, cluster totals from one node only', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = await nodeOf(vmid);
    let reporters = 0, running = 0;
    for (const node of cluster.nodes) {
      const text = (await api(node, 'GET', '/metrics')).text;
      const mine = text.match(new RegExp(`^vmshare_node_vms\\{node="${node.nodeId}"\\} (\\d+)`, 'm'));
      assert.ok(mine, text);
      assert.equal(Number(mine[1]), node.nodeId === owner ? 1 : 0);
      const total = text.match(/^vmshare_cluster_vms\{state="running"\} (\d+)/m);
      if (total) { reporters++; running += Number(total[1]); }
    }
    assert.equal(reporters, 1, 'exactly one node reports the totals');
    assert.equal(running, 1);
    await api(front, 'POST', '/vm/stop', { token: user.token });
  });

  test('the owner node killed: its VMs are lost in time, the user launches again, the node comes back and stops them', async () => {
    const user = await registerUser(front);
    const vmid = (await launch(front, user)).body.vm.vmid;
    const owner = await nodeOf(vmid);
    const index = cluster.nodes.findIndex((n) => n.nodeId === owner);
    const victim = cluster.nodes[index];
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const t0 = Date.now();
    await waitFor('the VM marked lost', async () =>
      (await cluster.psql(`SELECT state FROM vms WHERE vmid = '${vmid}'`)) === 'lost', 15000, 200);
    const ms = Date.now() - t0;
    assert.ok(ms < (4 + 1 + 2) * 1000, `lost after ${ms} ms (VMSHARE_NODE_DEAD_S=4, heartbeat 1 s)`);
    const survivor = cluster.nodes.find((n) => n.nodeId !== owner);
    const seen = await status(survivor, user);
    assert.equal(seen.status, 410, seen.text);
    assert.match(seen.body.detail, /lost/);
    const stick = await api(survivor, 'GET', '/vm/drop', { token: user.token });
    assert.equal(stick.status, 200, `the console page's question is still answered: ${stick.text}`);
    assert.equal(stick.body.state, 'none');
    const again = await launch(survivor, user);
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.body.vm.vmid, vmid);
    assert.notEqual(await nodeOf(again.body.vm.vmid), owner);
    // The node returns on its data folder: it adopts the QEMU that survived, and stops it, since
    // the table gave that VM up.
    assert.equal((await fakeProcs(victim.dataDir)).filter((p) => p.args.includes(vmid)).length, 1, 'the QEMU outlived vmshare');
    const back = await cluster.startNode(index);
    await waitFor('the lost VM stopped by its returning node', async () =>
      (await fakeProcs(back.dataDir)).filter((p) => p.args.includes(vmid)).length === 0, 20000);
    assert.equal(await cluster.psql(`SELECT dead FROM nodes WHERE id = '${owner}'`), 'f');
    assert.equal((await status(back, user)).body.vmid, again.body.vm.vmid, 'the returned node answers about the new VM');
    await api(front, 'POST', '/vm/stop', { token: user.token });
  });
});
