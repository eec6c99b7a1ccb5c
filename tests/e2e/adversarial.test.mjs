// Adversarial suite (issue 7 item 4): JWT forgeries, CSRF on every state-changing cookie route,
// cross-site WebSocket hijacking, path traversal on every route that takes a name, oversized
// and slow requests, and a qcow2 passed off as an ISO. VMs are bench/fake_rfb_qemu (fast); what
// the existing auth/origin/http/upload tests already cover is not repeated here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { fakeProcs, startFakeVmServer } from './lib/fake_qemu.mjs';
import { decodePayload, readSecret, signToken } from './lib/jwt.mjs';
import { api, parseRaw, rawRequest, registerUser, sleep, uniqueLogin } from './lib/server.mjs';

const run = promisify(execFile);
const READ_TIMEOUT_S = 2;
const EVIL = 'https://evil.example';

let server;
before(async () => {
  // Few workers, so a handful of slow clients would starve the server if they held one.
  server = await startFakeVmServer({ env: { READ_TIMEOUT_S: String(READ_TIMEOUT_S), VMSHARE_WORKER_THREADS: '4', MAX_ISO_BYTES: String(4 << 20) } });
});
after(async () => {
  if (!server) return;
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

const me = (auth) => api(server, 'GET', '/me', auth);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (s) => Buffer.from(s).toString('base64url');
const post = (user, route, json, headers = {}) => api(server, 'POST', route, { cookie: user.cookie, json, headers, timeoutMs: 30000 });
const vmStatus = (user) => api(server, 'GET', '/vm/status', { token: user.token });
const snapshots = async (user) => (await api(server, 'GET', '/get_user_snapshots', { token: user.token })).body;

async function runVm(user) {
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(res.status, 200, res.text);
  return res.body.vm.vmid;
}

// A token whose header and payload are given as raw JSON text (duplicate keys survive), signed.
function rawSigned(headerText, payloadText, secret) {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

describe('JWT forgeries', () => {
  let u, victim, secret, claims;
  before(async () => {
    u = await registerUser(server);
    victim = await registerUser(server);
    secret = readSecret(server);
    claims = { ...decodePayload(u.token), iat: now(), exp: now() + 600 };
  });

  test('kid, jku, x5u and jwk headers are ignored: only our secret verifies', async () => {
    const extras = { kid: '../../../../dev/null', jku: 'https://evil.example/jwks.json', x5u: 'https://evil.example/cert.pem', jwk: { kty: 'oct', k: b64('attacker') } };
    // With our secret the token is valid whatever the header adds (they select nothing).
    const good = rawSigned(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...extras }), JSON.stringify({ ...claims, jti: `${claims.jti}k` }), secret);
    assert.equal((await me({ token: good })).status, 200);
    // Signed with the key those headers point at (an empty file, the attacker's key): refused.
    for (const key of ['', 'attacker', '\n']) {
      const forged = rawSigned(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...extras }), JSON.stringify(claims), key);
      assert.equal((await me({ token: forged })).status, 401, `key ${JSON.stringify(key)}`);
    }
  });

  test("alg 'HS256 ', 'hs256', 'HS256\\u0000' and an array are refused even with our secret", async () => {
    for (const alg of ['HS256 ', 'hs256', ' HS256', 'HS256\u0000', ['HS256'], 'HS384']) {
      const t = rawSigned(JSON.stringify({ alg, typ: 'JWT' }), JSON.stringify(claims), secret);
      assert.equal((await me({ token: t })).status, 401, JSON.stringify(alg));
    }
  });

  test('duplicate keys: alg none smuggled after HS256 is refused; a duplicated uid never names the victim', async () => {
    const payload = JSON.stringify(claims);
    for (const header of ['{"alg":"HS256","alg":"none"}', '{"alg":"none","alg":"HS256"}']) {
      assert.equal((await me({ token: `${b64(header)}.${b64(payload)}.` })).status, 401, header);
      assert.equal((await me({ token: rawSigned(header, payload, '') })).status, 401, header);
    }
    // Signed (so only a server bug could make it matter): whichever uid a parser picks, the
    // caller is u or nobody, never the victim.
    for (const order of [[victim.id, u.id], [u.id, victim.id]]) {
      const text = `{"sub":${JSON.stringify(u.login)},"uid":${order[0]},"uid":${order[1]},"iat":${claims.iat},"exp":${claims.exp},"jti":"dup${order[0]}x"}`;
      const res = await me({ token: rawSigned('{"alg":"HS256","typ":"JWT"}', text, secret) });
      assert.ok(res.status === 401 || res.body.id === u.id, `${text} -> ${res.status} ${res.text}`);
    }
    const subs = `{"sub":${JSON.stringify(victim.login)},"sub":${JSON.stringify(u.login)},"uid":${u.id},"iat":${claims.iat},"exp":${claims.exp},"jti":"dupsub"}`;
    const res = await me({ token: rawSigned('{"alg":"HS256","typ":"JWT"}', subs, secret) });
    assert.ok(res.status === 401 || res.body.id === u.id, res.text);
  });

  test('a huge token is refused quickly (bearer 401, oversized cookie header 431)', async () => {
    const big = { ...claims, pad: 'x'.repeat(12000) };
    const t = signToken(big, secret);
    const t0 = Date.now();
    assert.equal((await me({ token: t })).status, 401);
    assert.ok(Date.now() - t0 < 2000);
    const huge = signToken({ ...claims, pad: 'x'.repeat(64 * 1024) }, secret);
    const { text } = await rawRequest(server, `GET /me HTTP/1.1\r\nHost: x\r\nCookie: access_token=${huge}\r\n\r\n`);
    assert.equal(parseRaw(text).status, 431);
    assert.equal((await me({ token: u.token })).status, 200, 'the server is fine afterwards');
  });

  test('uid of another user with a sub that does not match: 401 both ways', async () => {
    for (const c of [{ sub: u.login, uid: victim.id }, { sub: victim.login, uid: u.id }]) {
      const t = signToken({ ...claims, ...c, jti: `${claims.jti}${c.uid}` }, secret);
      assert.equal((await me({ token: t })).status, 401, JSON.stringify(c));
      assert.equal((await me({ cookie: `access_token=${t}` })).status, 401, JSON.stringify(c));
    }
  });
});

// ISO 9660 "CD001" at the primary volume descriptor: what the upload check looks for.
const multipart = (boundary, data) => Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.iso"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
function uploadIso(user, data, headers = {}) {
  const boundary = 'advBoundary7f3a';
  return api(server, 'POST', '/api/post', {
    cookie: user.cookie, body: multipart(boundary, data), timeoutMs: 30000,
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, ...headers },
  });
}
const fakeIso = () => { const b = Buffer.alloc(64 * 1024); b.write('CD001', 0x8001, 'latin1'); return b; };
const isoFiles = () => { const d = path.join(server.dataDir, 'isos'); return existsSync(d) ? readdirSync(d) : []; };

describe('CSRF: cookie-authenticated state changes from another site are refused and change nothing', () => {
  const foreign = [['Origin', { Origin: EVIL }], ['Referer without Origin', { Referer: `${EVIL}/page` }]];
  for (const [label, headers] of foreign) {
    test(`foreign ${label}: /run-script, /vm/stop, /snapshot, /remove_snapshot, /api/post, /logout -> 403`, async () => {
      const u = await registerUser(server);
      // /run-script: no VM starts.
      assert.equal((await post(u, '/run-script', { os_type: 'fake' }, headers)).status, 403);
      assert.equal((await vmStatus(u)).status, 404, 'no VM was started');
      // With a VM running (started by bearer) and one snapshot taken.
      const vmid = await runVm(u);
      const snap = await api(server, 'POST', '/snapshot', { token: u.token, json: { os_type: 'fake' }, timeoutMs: 60000 });
      assert.equal(snap.status, 200, snap.text);
      assert.equal((await post(u, '/vm/stop', {}, headers)).status, 403);
      assert.equal((await post(u, '/snapshot', { os_type: 'fake' }, headers)).status, 403);
      assert.equal((await post(u, '/remove_snapshot', { snapshot: snap.body.snapshot }, headers)).status, 403);
      assert.equal((await uploadIso(u, fakeIso(), headers)).status, 403);
      assert.equal((await post(u, '/logout', {}, headers)).status, 403);
      // Nothing happened.
      const status = await vmStatus(u);
      assert.equal(status.status, 200, 'the VM still runs');
      assert.equal(status.body.vmid, vmid);
      assert.deepEqual((await snapshots(u)).map((s) => s.name), [snap.body.snapshot], 'one snapshot, still there');
      assert.equal((await me({ cookie: u.cookie })).status, 200, 'still logged in');
      // Same requests from our own origin go through (the refusals above were about the origin).
      assert.equal((await post(u, '/vm/stop', {}, { Origin: server.url })).status, 200);
      assert.equal((await post(u, '/remove_snapshot', { snapshot: snap.body.snapshot }, { Origin: server.url })).status, 200);
    });
  }

  test('an upload from a foreign origin stores nothing', async () => {
    const u = await registerUser(server);
    const before = isoFiles().length;
    assert.equal((await uploadIso(u, fakeIso(), { Origin: EVIL })).status, 403);
    assert.equal((await uploadIso(u, fakeIso(), { Referer: `${EVIL}/x` })).status, 403);
    assert.equal(isoFiles().length, before);
  });
});

// A raw WebSocket upgrade: resolves the HTTP status and, on 101, the first frame's payload.
function wsUpgrade(urlPath, headers) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const done = (v) => { clearTimeout(timer); sock.destroy(); resolve(v); };
    const timer = setTimeout(() => done({ status: 0, text: buf.toString('latin1') }), 10000);
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(buf.toString('latin1', 0, end).split(' ')[1]);
      if (status !== 101) return done({ status, text: buf.toString('latin1') });
      const frame = buf.subarray(end + 4);
      if (frame.length >= 2 && frame.length >= 2 + (frame[1] & 0x7f)) done({ status, first: frame.subarray(2, 2 + (frame[1] & 0x7f)).toString('latin1') });
    });
    sock.on('close', () => done({ status: 0, text: buf.toString('latin1') }));
    const h = { Host: `127.0.0.1:${server.port}`, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers };
    sock.write(`GET ${urlPath} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
  });
}

describe('cross-site WebSocket hijacking', () => {
  test("the owner's cookie from a foreign Origin: 403, no viewer attached; the console then works for the owner", async () => {
    const u = await registerUser(server);
    const vmid = await runVm(u);
    for (const origin of [EVIL, 'null', `http://127.0.0.1:${server.port}.evil.example`]) {
      const res = await wsUpgrade(`/ws/${vmid}`, { Cookie: u.cookie, Origin: origin });
      assert.equal(res.status, 403, `${origin}: ${res.text}`);
    }
    // A foreign Referer without Origin (not a browser WebSocket, but the same rule): 403.
    assert.equal((await wsUpgrade(`/ws/${vmid}`, { Cookie: u.cookie, Referer: `${EVIL}/` })).status, 403);
    const status = await vmStatus(u);
    assert.equal(status.body.viewers, 0, 'no refused client ever reached the VM');
    // The owner from our origin gets the VM's RFB greeting as the first bytes.
    const ok = await wsUpgrade(`/ws/${vmid}`, { Cookie: u.cookie, Origin: server.url });
    assert.equal(ok.status, 101);
    assert.equal(ok.first, 'RFB 003.008\n');
    assert.equal((await post(u, '/vm/stop', {}, { Origin: server.url })).status, 200);
  });
});

// Distinct markers of files a traversal could reach: none may appear in any response.
const FORBIDDEN = [/root:.*:0:0:/, /SQLite format 3/, /# vmshare/, /"profiles"/];
async function assertRefused(urlPath, headers = '') {
  const { text } = await rawRequest(server, `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n${headers}Connection: close\r\n\r\n`);
  const res = parseRaw(text);
  for (const re of FORBIDDEN) assert.doesNotMatch(res.body, re, `${urlPath} leaked a file`);
  return res;
}

describe('path traversal on every route that takes a name', () => {
  const payloads = ['..', '%2e%2e', '.%2e', '%252e%252e', '..%2f..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e%2fvmshare.db',
    '..%5c..%5cvmshare.db', '..\\..\\vmshare.db', '%00', 'x%00.qcow2', '%c0%ae%c0%ae', '%c0%ae%c0%ae%c0%af%c0%ae%c0%aeetc%c0%afpasswd',
    '%e0%80%ae%e0%80%ae', '..%252f..%252fetc%252fpasswd', 'secret_key', '..%2fsecret_key', '%2e%2e%2fsecret_key'];
  let u, consolePage;
  before(async () => {
    u = await registerUser(server);
    consolePage = (await api(server, 'GET', '/console/0123abcd')).text;
  });

  test('/console/<vmid>: 400/404, or the console page itself, never another file', async () => {
    for (const p of payloads) {
      const res = await assertRefused(`/console/${p}`);
      assert.ok([400, 404].includes(res.status) || (res.status === 200 && res.body === consolePage), `${p}: ${res.status}`);
    }
  });

  test('/ws/<vmid> (owner cookie, our Origin): 400/404, nothing upgraded', async () => {
    for (const p of payloads) {
      const res = await wsUpgrade(`/ws/${p}`, { Cookie: u.cookie, Origin: server.url });
      assert.ok([400, 404].includes(res.status), `${p}: ${res.status} ${res.text}`);
    }
  });

  test('/snapshots/<name>/download: 400/404 for traversal names and for files that exist in the data dir', async () => {
    for (const p of [...payloads, '..%2f..%2fvmshare.db', `..%2f${u.id}%2f..%2f..%2fsecret_key`]) {
      const res = await assertRefused(`/snapshots/${p}/download`, `Cookie: ${u.cookie}\r\n`);
      assert.ok([400, 404].includes(res.status), `${p}: ${res.status}`);
    }
  });

  test('static files: encoded dots, double encoding, backslashes, NUL and overlong UTF-8', async () => {
    for (const p of ['/%252e%252e/README.md', '/js/%2e%2e/%2e%2e/README.md', '/js\\..\\..\\README.md', '/%5c..%5c..%5cREADME.md',
      '/index.html%00.png', '/%00', '/%c0%ae%c0%ae/README.md', '/%c0%2e%c0%2e/README.md', '/%e0%80%ae%e0%80%ae/README.md',
      '/.%252e/README.md', '/..;/README.md', '/%2e%2e;/README.md', '/.git/config', '/%2egit/config', '/js/../../README.md']) {
      const res = await assertRefused(p);
      assert.ok([400, 404].includes(res.status), `${p}: ${res.status}`);
    }
  });
});

describe('oversized and slow requests', () => {
  test('too many headers in total: 431; a JSON body over the limit: 413', async () => {
    const headers = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(60)}\r\n`).join('');
    assert.equal(parseRaw((await rawRequest(server, `GET /me HTTP/1.1\r\nHost: x\r\n${headers}\r\n`)).text).status, 431);
    const u = await registerUser(server);
    // Refused on the header alone (the body is never read), so only the head is sent.
    const { text } = await rawRequest(server, `POST /run-script HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${u.token}\r\nContent-Type: application/json\r\nContent-Length: ${2 << 20}\r\n\r\n{"os_type":"fake","pad":"`);
    assert.equal(parseRaw(text).status, 413);
    assert.equal((await vmStatus(u)).status, 404);
  });

  // Refused on its head, so the body is never read: closing at once made the kernel reset the
  // connection as more of it came in, and about half of such clients saw EPIPE, not the 413.
  test('a client that sends a whole body over the limit reads the 413', async () => {
    const body = Buffer.alloc(4 << 20, 32);
    for (let i = 0; i < 20; i++) {
      const res = await api(server, 'POST', '/login', { body, headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 413, res.text);
      assert.match(res.body.detail, /too large/);
    }
  });

  // Content-Length: 1000 then one byte a second, on a buffered route and on the upload route.
  for (const route of ['/login', '/api/post']) {
    test(`a slow body on ${route} is cut after READ_TIMEOUT_S while other clients are served`, async () => {
      const u = await registerUser(server);
      const head = route === '/login'
        ? 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n'
        : `POST /api/post HTTP/1.1\r\nHost: x\r\nCookie: ${u.cookie}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n`;
      // More slow clients than workers (4).
      const slow = Array.from({ length: 8 }, () => {
        const sock = net.connect(server.port, '127.0.0.1');
        const t0 = Date.now();
        sock.write(head);
        let sent = 0;
        const timer = setInterval(() => { if (!sock.destroyed) { sock.write(route === '/login' ? '{' : '-'); sent++; } }, 1000);
        const closed = new Promise((resolve) => {
          sock.on('close', () => { clearInterval(timer); resolve(Date.now() - t0); });
          sock.on('error', () => {});
        });
        return { sock, closed, sent: () => sent };
      });
      await sleep(500);
      for (let k = 0; k < 5; k++) {
        const t0 = Date.now();
        const res = await me({ token: u.token, timeoutMs: 5000 });
        assert.equal(res.status, 200);
        assert.ok(Date.now() - t0 < 1500, `/me took ${Date.now() - t0} ms while slow bodies were being sent`);
        await sleep(300);
      }
      const limit = (READ_TIMEOUT_S + 4) * 1000;
      const times = await Promise.all(slow.map(async (s) => {
        const ms = await Promise.race([s.closed, sleep(limit).then(() => null)]);
        s.sock.destroy();
        return ms;
      }));
      assert.ok(times.every((ms) => ms !== null), `slow clients still connected after ${limit} ms: ${JSON.stringify(times)}`);
      if (route === '/api/post') assert.deepEqual(readdirSync(path.join(server.dataDir, 'isos')).filter((f) => !f.endsWith('.iso')), [], 'no partial upload left');
    });
  }
});

describe('a qcow2 uploaded as an ISO', () => {
  let dir;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-adv-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function qcow2(withCd001) {
    const file = path.join(dir, `img-${withCd001}.qcow2`);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '8M']);
    if (withCd001) {
      const buf = readFileSync(file);
      const out = Buffer.alloc(Math.max(buf.length, 0x8001 + 5));
      buf.copy(out);
      out.write('CD001', 0x8001, 'latin1');  // in cluster 0's padding: still a valid qcow2
      writeFileSync(file, out);
      const { stdout } = await run('qemu-img', ['info', '--output=json', file]);
      assert.equal(JSON.parse(stdout).format, 'qcow2', 'the crafted file is still a qcow2');
    }
    return readFileSync(file);
  }

  test('a plain qcow2: 400 (no ISO 9660 signature), nothing stored', async () => {
    const u = await registerUser(server);
    const before = isoFiles().length;
    const res = await uploadIso(u, await qcow2(false));
    assert.equal(res.status, 400, res.text);
    assert.equal(isoFiles().length, before);
  });

  test('a qcow2 carrying CD001 is accepted but booted as a read-only raw CD-ROM, never probed as qcow2', async () => {
    const u = await registerUser(server);
    assert.equal((await uploadIso(u, await qcow2(true))).status, 200);
    const res = await api(server, 'POST', '/run-iso', { token: u.token, timeoutMs: 30000 });
    assert.equal(res.status, 200, res.text);
    const vmid = res.body.vm.vmid;
    const [proc] = await fakeProcs(path.join(server.dataDir, 'vms', vmid));
    assert.ok(proc, 'the VM process runs');
    const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
    const blockdevs = argv.flatMap((a, i) => (argv[i - 1] === '-blockdev' ? [JSON.parse(a)] : []));
    // The upload reaches QEMU as a descriptor in fd set 3 (-add-fd fd=6,set=3), never by path.
    assert.ok(argv.includes('fd=6,set=3,opaque=cdrom'), argv.join(' '));
    const isoFile = blockdevs.find((b) => b.driver === 'file' && b.filename === '/dev/fdset/3');
    assert.ok(isoFile, `the ISO is attached: ${JSON.stringify(blockdevs)}`);
    const users = blockdevs.filter((b) => b.file === isoFile['node-name']);
    assert.equal(users.length, 1, JSON.stringify(blockdevs));
    assert.equal(users[0].driver, 'raw', 'format is raw, never probed');
    assert.equal(users[0]['read-only'], true);
    assert.ok(!argv.some((a) => ['-cdrom', '-hdc', '-drive'].includes(a)), 'no -cdrom/-hdc/-drive that would probe the format');
    assert.equal((await api(server, 'POST', '/vm/stop', { token: u.token, timeoutMs: 30000 })).status, 200);
  });
});
