// POST /api/post: ISO uploads streamed to disk, size cap, signature check, server-chosen names.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startServer, api, registerUser, rawRequest, parseRaw, sleep } from './lib/server.mjs';

const GRUB_ISO = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';
const BOUNDARY = '----vmshareE2E' + randomBytes(8).toString('hex');

// A minimal ISO 9660 look-alike: zeros with "CD001" where the primary volume descriptor has it.
function fakeIso(size = 64 * 1024, fill = 0) {
  const buf = Buffer.alloc(size, fill);
  buf.write('CD001', 0x8001, 'latin1');
  return buf;
}

function realIso() {
  return existsSync(GRUB_ISO) ? readFileSync(GRUB_ISO) : fakeIso(256 * 1024);
}

// multipart/form-data with the given parts: [{name, filename?, type?, data}].
function multipart(parts) {
  const chunks = [];
  for (const p of parts) {
    let head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += `\r\nContent-Type: ${p.type ?? 'application/octet-stream'}\r\n\r\n`;
    chunks.push(Buffer.from(head, 'latin1'), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}
const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

function upload(server, user, data, { filename = 'disk.iso', headers = {}, auth = 'cookie' } = {}) {
  const h = { 'Content-Type': MULTIPART_TYPE, ...headers };
  return api(server, 'POST', '/api/post', {
    body: multipart([{ name: 'file', filename, data }]),
    headers: h,
    ...(auth === 'cookie' ? { cookie: user.cookie } : auth === 'bearer' ? { token: user.token } : {}),
  });
}

// The same upload with Transfer-Encoding: chunked (no Content-Length), as a streaming client sends it.
function uploadChunked(server, user, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/post', agent: false,
      headers: { 'Content-Type': MULTIPART_TYPE, Cookie: user.cookie, 'Transfer-Encoding': 'chunked' },
    }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(parts).toString()) }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
    req.end();
  });
}

// An upload as curl sends it above 1 KiB: headers with "Expect: 100-continue", then the body only
// once the server says 100 Continue. Resolves with whether that came and the final answer.
function uploadExpectingContinue(server, cookie, body) {
  return new Promise((resolve, reject) => {
    let continued = false;
    const headers = { 'Content-Type': MULTIPART_TYPE, 'Content-Length': body.length, Expect: '100-continue' };
    if (cookie) headers.Cookie = cookie;
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/post', agent: false, headers },
      (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => resolve({ continued, status: res.statusCode, body: JSON.parse(Buffer.concat(parts).toString()) }));
      });
    req.on('continue', () => { continued = true; req.end(body); });
    req.on('error', reject);
    req.flushHeaders();
  });
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const isoDir = (server) => path.join(server.dataDir, 'isos');
const isoFiles = (server) => (existsSync(isoDir(server)) ? readdirSync(isoDir(server)).sort() : []);

function assertNoServerPath(server, res) {
  assert.ok(!res.text.includes(server.dataDir), `a server path leaked: ${res.text}`);
  assert.ok(!res.text.includes('/isos'), `a server path leaked: ${res.text}`);
}

describe('ISO upload', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('a real ISO is stored under the server-chosen name', async () => {
    const user = await registerUser(server);
    const iso = realIso();
    const res = await upload(server, user, iso);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { message: 'ISO uploaded', user_id: user.id, size: iso.length });
    assertNoServerPath(server, res);
    const stored = path.join(isoDir(server), `${user.id}.iso`);
    assert.equal(sha(readFileSync(stored)), sha(iso));
    assert.ok(!isoFiles(server).some((f) => f.endsWith('.part')), 'a partial file remains');
  });

  test('bearer authentication works too', async () => {
    const user = await registerUser(server);
    const res = await upload(server, user, fakeIso(), { auth: 'bearer' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.size, 64 * 1024);
  });

  test('a second upload replaces the first', async () => {
    const user = await registerUser(server);
    assert.equal((await upload(server, user, realIso())).status, 200);
    const second = fakeIso(96 * 1024, 7);
    const res = await upload(server, user, second);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.size, second.length);
    assert.equal(sha(readFileSync(path.join(isoDir(server), `${user.id}.iso`))), sha(second));
  });

  test('a non-ISO is refused with 400 and nothing is stored', async () => {
    const user = await registerUser(server);
    for (const data of [randomBytes(100 * 1024), Buffer.from('hello, not an iso'), Buffer.alloc(0)]) {
      const res = await upload(server, user, data);
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.detail, /ISO 9660/);
      assertNoServerPath(server, res);
    }
    assert.ok(!isoFiles(server).includes(`${user.id}.iso`));
    assert.ok(!isoFiles(server).some((f) => f.endsWith('.part')), 'a partial file remains');
  });

  test('hostile file names are never used on disk', async () => {
    const user = await registerUser(server);
    const before = isoFiles(server);
    for (const filename of ['../../etc/passwd', '/tmp/evil.iso', 'a'.repeat(5000) + '.iso', '..', '.upload-x.part']) {
      const res = await upload(server, user, fakeIso(), { filename });
      assert.equal(res.status, 200, `${filename.slice(0, 40)}: ${res.text}`);
    }
    const added = isoFiles(server).filter((f) => !before.includes(f));
    assert.deepEqual(added, [`${user.id}.iso`]);
    assert.ok(!existsSync(path.join(server.dataDir, 'passwd')));
    assert.ok(!existsSync(path.join(path.dirname(server.dataDir), 'passwd')));
    assert.ok(!existsSync('/tmp/evil.iso'));
  });

  test('without credentials: 401; a foreign Origin with the cookie: 403; nothing stored', async () => {
    const user = await registerUser(server);
    const anon = await upload(server, user, fakeIso(), { auth: 'none' });
    assert.equal(anon.status, 401, anon.text);
    const foreign = await upload(server, user, fakeIso(), { headers: { Origin: 'http://evil.example' } });
    assert.equal(foreign.status, 403, foreign.text);
    assert.ok(!isoFiles(server).includes(`${user.id}.iso`));
    // Refused before the body is read: a request announcing a huge body gets its answer at once.
    const raw = await rawRequest(server, `POST /api/post HTTP/1.1\r\nHost: x\r\nContent-Type: ${MULTIPART_TYPE}\r\n` +
      'Content-Length: 1000000000\r\n\r\n');
    assert.equal(parseRaw(raw.text).status, 401);
  });

  test('an upload cut off by the client leaves no partial file', async () => {
    const user = await registerUser(server);
    const body = multipart([{ name: 'file', data: fakeIso(1024 * 1024) }]);
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write(`POST /api/post HTTP/1.1\r\nHost: x\r\nCookie: ${user.cookie}\r\nContent-Type: ${MULTIPART_TYPE}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`);
    sock.write(body.subarray(0, 300 * 1024));
    // The partial file exists while the upload runs...
    for (let i = 0; i < 100 && !isoFiles(server).some((f) => f.endsWith('.part')); i++) await sleep(20);
    assert.ok(isoFiles(server).some((f) => f.endsWith('.part')), 'the upload never started');
    sock.destroy();
    // ...and is gone once the server notices the connection closed.
    for (let i = 0; i < 100 && isoFiles(server).some((f) => f.endsWith('.part')); i++) await sleep(20);
    assert.ok(!isoFiles(server).some((f) => f.endsWith('.part')), 'a partial file remains');
    assert.ok(!isoFiles(server).includes(`${user.id}.iso`));
  });

  test('Expect: 100-continue: the body is asked for once the upload is accepted, never when refused', async () => {
    const user = await registerUser(server);
    const iso = fakeIso();
    const body = multipart([{ name: 'file', filename: 'curl.iso', data: iso }]);
    const accepted = await uploadExpectingContinue(server, user.cookie, body);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.equal(accepted.continued, true, 'no 100 Continue: the client would wait before sending');
    assert.equal(accepted.body.size, iso.length);
    // Refused before the body is read: the final answer comes without 100 Continue, and the
    // client never sends the body.
    const refused = await uploadExpectingContinue(server, null, body);
    assert.equal(refused.status, 401);
    assert.equal(refused.continued, false);
  });

  test('malformed requests get 400', async () => {
    const user = await registerUser(server);
    const notMultipart = await api(server, 'POST', '/api/post', { cookie: user.cookie, json: { file: 'x' } });
    assert.equal(notMultipart.status, 400, notMultipart.text);
    const noBoundary = await api(server, 'POST', '/api/post', {
      cookie: user.cookie, body: multipart([{ name: 'file', data: fakeIso() }]), headers: { 'Content-Type': 'multipart/form-data' },
    });
    assert.equal(noBoundary.status, 400, noBoundary.text);
    const noFile = await api(server, 'POST', '/api/post', {
      cookie: user.cookie, body: multipart([{ name: 'other', data: fakeIso() }]), headers: { 'Content-Type': MULTIPART_TYPE },
    });
    assert.equal(noFile.status, 400, noFile.text);
    assert.match(noFile.body.detail, /file/);
    const truncated = multipart([{ name: 'file', data: fakeIso() }]);
    const cut = await api(server, 'POST', '/api/post', {
      cookie: user.cookie, body: truncated.subarray(0, truncated.length - 10), headers: { 'Content-Type': MULTIPART_TYPE },
    });
    assert.equal(cut.status, 400, cut.text);
    assert.ok(!isoFiles(server).includes(`${user.id}.iso`));
    assert.ok(!isoFiles(server).some((f) => f.endsWith('.part')), 'a partial file remains');
  });
});

describe('ISO upload size limit', () => {
  const MAX = 128 * 1024;
  let server;
  before(async () => { server = await startServer({ env: { MAX_ISO_BYTES: String(MAX) } }); });
  after(async () => { await server?.stop(); });

  test('exactly the limit is accepted', async () => {
    const user = await registerUser(server);
    const res = await upload(server, user, fakeIso(MAX));
    assert.equal(res.status, 200, res.text);
  });

  test('a Content-Length over the limit gets 413 before the body is read', async () => {
    const user = await registerUser(server);
    const raw = await rawRequest(server, `POST /api/post HTTP/1.1\r\nHost: x\r\nCookie: ${user.cookie}\r\n` +
      `Content-Type: ${MULTIPART_TYPE}\r\nContent-Length: ${10 * MAX}\r\n\r\n--${BOUNDARY}\r\n`);
    const res = parseRaw(raw.text);
    assert.equal(res.status, 413, raw.text);
    assert.match(JSON.parse(res.body).detail, /^ISO larger than 0\.1\d MB$/);
    assert.deepEqual(isoFiles(server).filter((f) => f.startsWith(`${user.id}.`) || f.endsWith('.part')), []);
  });

  test('a streamed (chunked) upload over the limit gets 413 and leaves no partial file', async () => {
    const user = await registerUser(server);
    const res = await uploadChunked(server, user, multipart([{ name: 'file', filename: 'big.iso', data: fakeIso(MAX + 1) }]));
    assert.equal(res.status, 413);
    assert.match(res.body.detail, /ISO larger than/);
    const big = await uploadChunked(server, user, multipart([{ name: 'file', data: fakeIso(2 * 1024 * 1024) }]));
    assert.equal(big.status, 413);
    assert.ok(!isoFiles(server).includes(`${user.id}.iso`));
    assert.ok(!isoFiles(server).some((f) => f.endsWith('.part')), 'a partial file remains');
  });

  test('an oversized upload does not replace the existing ISO', async () => {
    const user = await registerUser(server);
    const first = fakeIso(64 * 1024, 1);
    assert.equal((await upload(server, user, first)).status, 200);
    const res = await uploadChunked(server, user, multipart([{ name: 'file', data: fakeIso(MAX * 2) }]));
    assert.equal(res.status, 413);
    assert.equal(sha(readFileSync(path.join(isoDir(server), `${user.id}.iso`))), sha(first));
  });

  test('no log line at info level names a server path', () => {
    const lines = server.logs().split('\n').filter((l) => /ISO|api\/post/.test(l));
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(!l.includes(server.dataDir) && !l.includes('/isos'), l);
  });
});
