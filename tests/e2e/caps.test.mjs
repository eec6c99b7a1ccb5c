// Caps with clear errors (issue 12 item 6): console viewers per VM and per user, ISO upload slots
// per user, a node-wide cap on stored ISOs and snapshots, the free-space guard, and /feedback per
// user. Each refusal is a status and a {"detail"} the user can act on, before anything is
// accepted or written, and is counted in vmshare_cap_refusals_total{cap}. VMs are
// bench/fake_rfb_qemu (fast).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { multipart } from './lib/multipart.mjs';
import { api, prepareEnv, registerUser, runVmshare, startServer, uniqueLogin } from './lib/server.mjs';
import { createAdmin, waitFor } from './lib/vm_helpers.mjs';

const servers = [];
after(async () => {
  for (const s of servers) await s.stop();  // ends their fake QEMUs too (lib/server.mjs)
});
async function fakeVmServer(env) {
  const s = await startFakeVmServer({ env });
  servers.push(s);
  return s;
}
async function plainServer(env) {
  const s = await startServer({ env });
  servers.push(s);
  return s;
}

// The value of one sample of /metrics (loopback may read it), or 0 when absent.
async function metric(server, name, labels = '') {
  const res = await api(server, 'GET', '/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
const refusals = (server, cap) => metric(server, 'vmshare_cap_refusals_total', `{cap="${cap}"}`);

async function runVm(server, user) {
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(res.status, 200, res.text);
  return res.body.vm.vmid;
}

// The console upgrade on a raw socket: resolves {status, headers, detail, sock (open on 101)}.
function openConsole(server, user, vmid) {
  return new Promise((resolve) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let head = '';
    const done = (out) => { clearTimeout(timer); resolve(out); };
    const timer = setTimeout(() => { sock.destroy(); done({ status: 0 }); }, 15000);
    sock.on('error', () => {});
    sock.on('close', () => done({ status: 0 }));
    sock.on('data', (d) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(head.split(' ')[1]);
      if (status === 101) return done({ status, sock });
      const headers = Object.fromEntries(head.slice(0, end).split('\r\n').slice(1)
        .map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      // The body is small JSON: wait for all of it.
      const body = head.slice(end + 4);
      if (body.length < Number(headers['content-length'] ?? 0)) return;
      sock.destroy();
      done({ status, headers, detail: JSON.parse(body).detail });
    });
    sock.write(`GET /ws/${vmid} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: ${server.url}\r\n` +
      `Authorization: Bearer ${user.token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  });
}

function fakeIso(size) {
  const buf = Buffer.alloc(size);
  buf.write('CD001', 0x8001, 'latin1');
  return buf;
}
function uploadIso(server, user, size) {
  const { body, headers } = multipart('file', 'disk.iso', fakeIso(size));
  return api(server, 'POST', '/api/post', { token: user.token, body, headers, timeoutMs: 30000 });
}
const isoFiles = (server) => readdirSync(path.join(server.dataDir, 'isos')).sort();

describe('console viewers', () => {
  let server;
  before(async () => {
    server = await fakeVmServer({ CONSOLE_VIEWERS_PER_VM: '3', CONSOLE_VIEWERS_PER_USER: '4', VMSHARE_DISCONNECT_GRACE_S: '60' });
  });

  test('40 consoles at once on one VM: 3 open, 37 get 429 before the upgrade; closing one frees its slot', async () => {
    const u = await registerUser(server);
    const vmid = await runVm(server, u);
    const before = await refusals(server, 'console_per_vm');
    const all = await Promise.all(Array.from({ length: 40 }, () => openConsole(server, u, vmid)));
    const open = all.filter((c) => c.status === 101);
    const refused = all.filter((c) => c.status === 429);
    assert.equal(open.length, 3, JSON.stringify(all.map((c) => c.status)));
    assert.equal(refused.length, 37);
    assert.match(refused[0].detail, /already has 3 open consoles/);
    assert.equal(refused[0].headers['retry-after'], '5');
    assert.equal(await refusals(server, 'console_per_vm'), before + 37);
    await waitFor('3 viewers attached', async () => (await api(server, 'GET', '/vm/status', { token: u.token })).body.viewers === 3);

    open[0].sock.destroy();
    const again = await waitFor('a slot after one console closed', async () => {
      const c = await openConsole(server, u, vmid);
      return c.status === 101 ? c : null;
    }, 15000, 200);
    assert.equal((await openConsole(server, u, vmid)).status, 429, 'still three at most');
    for (const c of [again, ...open.slice(1)]) c.sock.destroy();
  });

  test("per user: an admin watching several VMs is capped at 4 consoles whoever's VMs they are", async () => {
    const admin = await createAdmin(server, uniqueLogin('admin'), 'admin-password-1');
    const [a, b, c] = await Promise.all([registerUser(server), registerUser(server), registerUser(server)]);
    const vms = await Promise.all([a, b, c].map((x) => runVm(server, x)));
    const held = [];
    for (const vmid of [vms[0], vms[0], vms[1], vms[1]]) {
      const con = await openConsole(server, admin, vmid);
      assert.equal(con.status, 101);
      held.push(con.sock);
    }
    const fifth = await openConsole(server, admin, vms[2]);
    assert.equal(fifth.status, 429);
    assert.match(fifth.detail, /You already have 4 open consoles/);
    // The owner of that VM is not affected by the admin's count.
    const own = await openConsole(server, c, vms[2]);
    assert.equal(own.status, 101);
    held.push(own.sock);
    assert.ok(await refusals(server, 'console_per_user') >= 1);
    for (const s of held) s.destroy();
  });
});

describe('ISO uploads', () => {
  test('one account with 8 trickling uploads holds one slot; everyone else still uploads', async () => {
    // 8 workers: 4 upload slots on the node, 1 per user.
    const server = await plainServer({ VMSHARE_WORKER_THREADS: '8', READ_TIMEOUT_S: '30', MAX_ISO_BYTES: String(4 << 20) });
    const hog = await registerUser(server);
    const others = await Promise.all(Array.from({ length: 3 }, () => registerUser(server)));
    const before = await refusals(server, 'uploads_per_user');
    // 8 uploads announcing 1 MiB that send one byte a second.
    const trickles = Array.from({ length: 8 }, () => {
      const sock = net.connect(server.port, '127.0.0.1');
      let text = '';
      const answered = new Promise((resolve) => {
        sock.on('data', (d) => { text += d; if (text.includes('\r\n\r\n')) resolve(Number(text.split(' ')[1])); });
        sock.on('close', () => resolve(text ? Number(text.split(' ')[1]) : 0));
        sock.on('error', () => {});
      });
      sock.write(`POST /api/post HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${hog.token}\r\n` +
        `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${1 << 20}\r\n\r\n`);
      const timer = setInterval(() => { if (!sock.destroyed) sock.write('-'); }, 1000);
      return { sock, answered, timer, status: null };
    });
    for (const t of trickles) t.answered.then((s) => { t.status = s; });
    await waitFor('7 of the 8 refused at once', () => trickles.filter((t) => t.status !== null).length === 7, 10000, 50);
    const statuses = trickles.map((t) => t.status).filter((s) => s !== null);
    assert.ok(statuses.every((s) => s === 429 || s === 503), JSON.stringify(statuses));
    assert.ok(statuses.filter((s) => s === 429).length >= 1);
    assert.ok(await refusals(server, 'uploads_per_user') >= before + 1);
    assert.equal(await metric(server, 'vmshare_uploads_in_progress'), 1, 'the hog holds one upload');

    // While the hog's one upload trickles on, three other accounts upload at once.
    const results = await Promise.all(others.map((o) => uploadIso(server, o, 64 * 1024)));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200], JSON.stringify(results.map((r) => r.body)));
    // The hog's second upload gets a clear answer.
    const second = await uploadIso(server, hog, 64 * 1024);
    assert.equal(second.status, 429);
    assert.match(second.body.detail, /already have an ISO upload in progress/);
    assert.ok(second.headers['retry-after']);
    for (const t of trickles) { clearInterval(t.timer); t.sock.destroy(); }
    // Its slot comes back once the connection is gone.
    await waitFor('the hog may upload again', async () => (await uploadIso(server, hog, 64 * 1024)).status === 200, 15000, 200);
  });

  test('node-wide cap on stored ISOs (MB and files): 507 with a clear detail, nothing left behind; a replacement fits', async () => {
    const server = await plainServer({ ISO_STORE_MAX_MB: '1', ISO_STORE_MAX_FILES: '2' });
    const [u1, u2, u3] = await Promise.all([registerUser(server), registerUser(server), registerUser(server)]);
    assert.equal((await uploadIso(server, u1, 600 << 10)).status, 200);
    const full = await uploadIso(server, u2, 600 << 10);
    assert.equal(full.status, 507);
    assert.match(full.body.detail, /ISO storage is full \(1 of 1 MB used/);
    assert.equal((await uploadIso(server, u2, 300 << 10)).status, 200, 'what fits is still taken');
    const tooMany = await uploadIso(server, u3, 64 << 10);
    assert.equal(tooMany.status, 507);
    assert.match(tooMany.body.detail, /already stores 2 ISOs/);
    // Replacing one's own ISO adds no file and frees its bytes.
    assert.equal((await uploadIso(server, u1, 700 << 10)).status, 200);
    assert.deepEqual(isoFiles(server), [`${u1.id}.iso`, `${u2.id}.iso`].sort());
    assert.ok(await refusals(server, 'iso_store') >= 2);
    assert.equal(await metric(server, 'vmshare_stored_files', '{store="isos"}'), 2);
    assert.equal(await metric(server, 'vmshare_stored_bytes', '{store="isos"}'), (700 << 10) + (300 << 10));
  });
});

describe('snapshots and the free-space guard', () => {
  test('node-wide snapshot cap: the third snapshot on a 2-file node gets 507; removing one makes room', async () => {
    const server = await fakeVmServer({ SNAPSHOT_STORE_MAX_FILES: '2' });
    const [a, b] = await Promise.all([registerUser(server), registerUser(server)]);
    await runVm(server, a);
    await runVm(server, b);
    const snap = (u) => api(server, 'POST', '/snapshot', { token: u.token, json: { os_type: 'fake' }, timeoutMs: 60000 });
    const first = await snap(a);
    assert.equal(first.status, 200, first.text);
    assert.equal((await snap(b)).status, 200);
    const third = await snap(a);
    assert.equal(third.status, 507);
    assert.match(third.body.detail, /already stores 2 snapshots/);
    const listed = (await api(server, 'GET', '/get_user_snapshots', { token: a.token })).body;
    assert.equal(listed.length, 1, 'nothing recorded for the refused one');
    assert.equal((await api(server, 'POST', '/remove_snapshot', { token: a.token, json: { snapshot: first.body.snapshot } })).status, 200);
    assert.equal((await snap(a)).status, 200);
    assert.equal(await refusals(server, 'snapshot_store'), 1);
    assert.equal(await metric(server, 'vmshare_stored_files', '{store="snapshots"}'), 2);
  });

  test('MIN_FREE_DISK_MB above the free space: ISO uploads and snapshots get 507, nothing written', async () => {
    const server = await fakeVmServer({ MIN_FREE_DISK_MB: String(2 ** 30) });
    const u = await registerUser(server);
    const iso = await uploadIso(server, u, 64 << 10);
    assert.equal(iso.status, 507);
    assert.match(iso.body.detail, /Not enough disk space/);
    assert.deepEqual(isoFiles(server), []);
    await runVm(server, u);
    const snap = await api(server, 'POST', '/snapshot', { token: u.token, json: { os_type: 'fake' }, timeoutMs: 60000 });
    assert.equal(snap.status, 507);
    assert.match(snap.body.detail, /Not enough disk space/);
    assert.deepEqual((await api(server, 'GET', '/get_user_snapshots', { token: u.token })).body, []);
    assert.equal(await refusals(server, 'disk_free'), 2);
  });
});

describe('feedback', () => {
  let telegram, sent = 0;
  before(async () => {
    telegram = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        sent += 1;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"ok":true,"result":{"message_id":1}}');
      });
    });
    await new Promise((r) => telegram.listen(0, '127.0.0.1', r));
  });
  after(() => telegram?.close());

  test('at most FEEDBACK_MAX_PER_USER messages per window and user: then 429 with Retry-After; others unaffected', async () => {
    const server = await plainServer({
      TELEGRAM_API_URL: `http://127.0.0.1:${telegram.address().port}`, TG_BOT_TOKEN: '1:x', TG_CHAT_ID: '1',
      FEEDBACK_MAX_PER_USER: '2', FEEDBACK_WINDOW_S: '600',
    });
    const [a, b] = await Promise.all([registerUser(server), registerUser(server)]);
    const send = (u, message) => api(server, 'POST', '/feedback', { token: u.token, json: { message } });
    assert.equal((await send(a, 'one')).status, 200);
    assert.equal((await send(a, 'two')).status, 200);
    const third = await send(a, 'three');
    assert.equal(third.status, 429);
    assert.match(third.body.detail, /sent 2 messages recently/);
    const wait = Number(third.headers['retry-after']);
    assert.ok(wait > 590 && wait <= 600, `Retry-After ${wait}`);
    assert.equal((await send(b, 'hello')).status, 200);
    assert.equal(sent, 3, 'the refused message never reached Telegram');
    assert.equal(await refusals(server, 'feedback'), 1);
  });
});

describe('configuration', () => {
  test('UPLOADS_PER_USER that would let one account take every upload slot stops start-up', async () => {
    const { env } = await prepareEnv({ env: { VMSHARE_WORKER_THREADS: '8', UPLOADS_PER_USER: '4' } });
    const res = await runVmshare([], { env });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr + res.stdout, /UPLOADS_PER_USER: 4 would let one account take all 4 upload slots/);
    for (const [key, value, message] of [
      ['GRAFANA_AUTH_PROXY_ROLE', 'Owner', /GRAFANA_AUTH_PROXY_ROLE: must be Viewer, Editor, Admin or empty/],
      ['GRAFANA_AUTH_PROXY_HEADER', 'X WEBAUTH', /GRAFANA_AUTH_PROXY_HEADER: must be a header name/],
      ['CONSOLE_VIEWERS_PER_VM', '0', /CONSOLE_VIEWERS_PER_VM: 0 is out of range/],
      ['MIN_FREE_DISK_MB', '-1', /MIN_FREE_DISK_MB: '-1' is not a number/],
    ]) {
      const bad = await runVmshare([], { env: (await prepareEnv({ env: { [key]: value } })).env });
      assert.notEqual(bad.code, 0, key);
      assert.match(bad.stderr + bad.stdout, message);
    }
    const help = await runVmshare(['--help']);
    for (const key of ['CONSOLE_VIEWERS_PER_VM', 'CONSOLE_VIEWERS_PER_USER', 'UPLOADS_PER_USER', 'ISO_STORE_MAX_MB',
      'ISO_STORE_MAX_FILES', 'SNAPSHOT_STORE_MAX_MB', 'SNAPSHOT_STORE_MAX_FILES', 'MIN_FREE_DISK_MB',
      'FEEDBACK_MAX_PER_USER', 'FEEDBACK_WINDOW_S', 'GRAFANA_AUTH_PROXY_HEADER', 'GRAFANA_AUTH_PROXY_ROLE'])
      assert.match(help.stdout, new RegExp(`\\b${key}\\b`), key);
  });
});
