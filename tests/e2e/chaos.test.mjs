// Random VM lifecycle operations (issue 7 item 4) with a fixed seed, on fake QEMU VMs
// (bench/fake_rfb_qemu: the real guest is too slow for hundreds of operations): starts, stops,
// consoles opened and dropped, snapshots taken and removed, kill -9 of the "QEMU" and of vmshare
// with a restart on the same data folder. Afterwards, with every VM stopped: no process, VM
// folder or session left, and each user's snapshot quota equals their files on disk.
// VMSHARE_E2E_CHAOS_OPS (300) and VMSHARE_E2E_CHAOS_SEED (1) change the run; a failure prints both.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';

import { fakeProcs, startFakeVmServer } from './lib/fake_qemu.mjs';
import { api, registerUser } from './lib/server.mjs';
import { filesMb, quotaOf } from './lib/snapshot_helpers.mjs';
import { createAdmin, waitFor } from './lib/vm_helpers.mjs';

const OPS = Number(process.env.VMSHARE_E2E_CHAOS_OPS || 300);
const SEED = Number(process.env.VMSHARE_E2E_CHAOS_SEED || 1);

// mulberry32: small, seedable, good enough to pick operations.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const servers = [];
after(async () => {
  const last = servers.at(-1);
  if (!last) return;
  await last.stop({ keepData: true });
  for (const s of servers) await s.stop();  // the first ends the fake QEMUs (lib/server.mjs)
});

// A console viewer: the WebSocket upgrade with the owner's bearer token, kept open.
function openConsole(server, user, vmid) {
  return new Promise((resolve) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let head = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ status: 0 }); }, 10000);
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(timer); resolve({ status: 0 }); });
    sock.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      const status = Number(head.split(' ')[1]);
      if (status !== 101) sock.destroy();
      resolve({ status, sock });
    });
    sock.write(`GET /ws/${vmid} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: ${server.url}\r\n` +
      `Authorization: Bearer ${user.token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  });
}

test(`${OPS} random lifecycle operations (seed ${SEED}) leave no orphan and quotas equal the files`, { timeout: 30 * 60 * 1000 }, async (t) => {
  const random = rng(SEED);
  const pick = (arr) => arr[Math.floor(random() * arr.length)];
  let server = await startFakeVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '5' } });
  servers.push(server);
  const users = [];
  for (let i = 0; i < 3; i++) users.push(await registerUser(server));
  const consoles = [];
  const log = [];  // the last operations, printed on failure
  const statuses = {};

  const call = async (user, method, route, json) => {
    const res = await api(server, method, route, { token: user.token, json, timeoutMs: 60000 });
    statuses[`${route} ${res.status}`] = (statuses[`${route} ${res.status}`] ?? 0) + 1;
    log.push(`${route} u${user.id} -> ${res.status}`);
    // 5xx other than "at capacity" is a server bug, whatever chaos came before.
    assert.ok(res.status < 500 || res.status === 503, `${route}: ${res.status} ${res.text}`);
    return res;
  };
  const count = (key) => { statuses[key] = (statuses[key] ?? 0) + 1; };
  const vmidOf = async (user) => {
    const res = await api(server, 'GET', '/vm/status', { token: user.token });
    return res.status === 200 ? res.body.vmid : null;
  };

  const ops = {
    async start(u) { await call(u, 'POST', '/run-script', { os_type: 'fake' }); },
    async stop(u) { await call(u, 'POST', '/vm/stop', {}); },
    async consoleOpen(u) {
      const vmid = await vmidOf(u);
      if (!vmid) return;
      const c = await openConsole(server, u, vmid);
      log.push(`console open u${u.id} -> ${c.status}`);
      count(`console ${c.status}`);
      if (c.sock) consoles.push(c.sock);
    },
    async consoleClose() {
      if (!consoles.length) return;
      const i = Math.floor(random() * consoles.length);
      consoles.splice(i, 1)[0].destroy();
      log.push('console close');
    },
    async killQemu(u) {
      const vmid = await vmidOf(u);
      if (!vmid) return;
      for (const { pid } of await fakeProcs(path.join(server.dataDir, 'vms', vmid))) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      log.push(`kill -9 qemu of u${u.id}`);
      count('kill -9 qemu');
    },
    async killServer() {
      server.proc.kill('SIGKILL');
      await server.exited;
      for (const c of consoles.splice(0)) c.destroy();
      server = await startFakeVmServer({ dataDir: server.dataDir, env: server.env });
      servers.push(server);
      log.push('kill -9 vmshare, restarted');
    },
    async snapshot(u) { await call(u, 'POST', '/snapshot', { os_type: 'fake' }); },
    async removeSnapshot(u) {
      const list = await api(server, 'GET', '/get_user_snapshots', { token: u.token });
      if (!list.body.length) return;
      await call(u, 'POST', '/remove_snapshot', { snapshot: pick(list.body).name });
    },
  };
  // Weights: mostly ordinary use, with a crash now and then.
  const table = [['start', 6], ['stop', 3], ['consoleOpen', 4], ['consoleClose', 3], ['killQemu', 2],
    ['killServer', 1], ['snapshot', 3], ['removeSnapshot', 2]].flatMap(([name, w]) => Array(w).fill(name));

  try {
    for (let i = 0; i < OPS; i++) await ops[pick(table)](pick(users));

    // Wind down: drop the consoles, stop every VM, and wait for the server to settle.
    for (const c of consoles.splice(0)) c.destroy();
    for (const u of users) await call(u, 'POST', '/vm/stop', {});
    const admin = await createAdmin(server, `admin_${SEED}_${Date.now()}`, 'chaos admin pw');
    await waitFor('no VM left', async () => {
      const sessions = await api(server, 'GET', '/sessions/active?limit=1000', { token: admin.token });
      const folder = path.join(server.dataDir, 'vms');
      const folders = existsSync(folder) ? readdirSync(folder) : [];
      // In production storage every test server shares one Redis: judge this node's sessions.
      const node = readFileSync(path.join(server.dataDir, 'node_id'), 'utf8').trim();
      const ours = sessions.status === 200 ? sessions.body.filter((s) => s.node === node) : [];
      return sessions.status === 200 && ours.length === 0 && folders.length === 0 &&
        (await fakeProcs(server.dataDir)).length === 0;
    }, 30000);
    for (const u of users) {
      const listed = (await api(server, 'GET', '/get_user_snapshots', { token: u.token })).body;
      const listedMb = listed.reduce((sum, s) => sum + s.size_mb, 0);
      assert.equal(listedMb, filesMb(server, u.id), `user ${u.id}: listed snapshots vs files on disk`);
      assert.equal((await quotaOf(server, u.id)).stored, listedMb, `user ${u.id}: stored quota vs snapshots`);
    }
    t.diagnostic(`seed ${SEED}, ${OPS} ops, ${servers.length - 1} restarts: ${JSON.stringify(statuses)}`);
  } catch (e) {
    e.message = `chaos seed ${SEED} (${OPS} ops; rerun with VMSHARE_E2E_CHAOS_SEED=${SEED}): ${e.message}\nlast operations:\n${log.slice(-15).join('\n')}`;
    throw e;
  }
});
