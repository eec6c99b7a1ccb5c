// The HTTP layer: JSON errors, body limit, bad bodies, slow clients, path traversal, shutdown.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { api, parseRaw, rawRequest, registerUser, sleep, startServer, uniqueLogin } from './lib/server.mjs';

const READ_TIMEOUT_S = 2;
let server;
before(async () => { server = await startServer({ env: { MAX_BODY_BYTES: '2048', READ_TIMEOUT_S: String(READ_TIMEOUT_S) } }); });
after(async () => { await server?.stop(); });

function assertJsonError(res, status) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] || '', /application\/json/);
  assert.equal(typeof res.body.detail, 'string', res.text);
}

describe('errors are JSON', () => {
  test('unknown route: 404 {detail}', async () => {
    assertJsonError(await api(server, 'GET', '/no/such/route'), 404);
    assertJsonError(await api(server, 'POST', '/nothing-here', { json: {} }), 404);
  });

  test('wrong method: 405 {detail} with Allow', async () => {
    const res = await api(server, 'GET', '/login');
    assertJsonError(res, 405);
    assert.match(res.headers.allow || '', /POST/);
    assertJsonError(await api(server, 'DELETE', '/me'), 405);
  });

  test('body over MAX_BODY_BYTES: 413 {detail}', async () => {
    const res = await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'x'.repeat(4096) } });
    assertJsonError(res, 413);
  });

  test('chunked body over the limit: 413', async () => {
    const chunk = 'a'.repeat(1000);
    let req = 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
    for (let i = 0; i < 5; i++) req += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    req += '0\r\n\r\n';
    const { text } = await rawRequest(server, req);
    assert.equal(parseRaw(text).status, 413, text.slice(0, 200));
  });

  test('oversized headers: 431; garbage request line: 400', async () => {
    const big = await rawRequest(server, `GET /me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100000)}\r\nConnection: close\r\n\r\n`);
    assert.equal(parseRaw(big.text).status, 431, big.text.slice(0, 200));
    const bad = await rawRequest(server, 'GARBAGE\r\n\r\n');
    const res = parseRaw(bad.text);
    assert.equal(res.status, 400, bad.text.slice(0, 200));
    assert.equal(typeof JSON.parse(res.body).detail, 'string');
  });

  test('malformed JSON: 400; wrong types: 422', async () => {
    assertJsonError(await api(server, 'POST', '/login', { body: '{"username": "a", ', headers: { 'Content-Type': 'application/json' } }), 400);
    assertJsonError(await api(server, 'POST', '/register', { json: { login: 123, password: 'long enough pw' } }), 422);
    assertJsonError(await api(server, 'POST', '/login', { json: { username: 'abc', password: ['long enough pw'] } }), 422);
    assertJsonError(await api(server, 'POST', '/login', { json: ['not', 'an', 'object'] }), 422);
  });

  test('error bodies never leak server paths or traces', async () => {
    const res = await api(server, 'POST', '/login', { body: '{{{', headers: { 'Content-Type': 'application/json' } });
    assert.doesNotMatch(res.text, /\/work\/|\/tmp\/|\.cpp|terminate|what\(\)/);
  });
});

test('access log: one line per request with method, route template and status; no secrets', async () => {
  const u = await registerUser(server);
  await api(server, 'GET', '/me?probe=query-secret', { cookie: u.cookie });
  await api(server, 'GET', '/console/vm-raw-id-42', { token: u.token });
  await sleep(1500);  // the log is flushed every second
  const logs = server.logs();
  assert.match(logs, /GET \/me 200/);
  assert.match(logs, /POST \/register 200/);
  assert.match(logs, /GET \/console\/<vmid> \d{3}/);
  for (const secret of [u.token, u.password, 'query-secret', 'vm-raw-id-42'])
    assert.ok(!logs.includes(secret), `the log holds ${secret.slice(0, 20)}...`);
});

describe('slow clients', () => {
  test('a slow-loris client is cut off after READ_TIMEOUT_S while others are served', async () => {
    const head = `GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(60)}\r\n\r\n`;
    // More slow clients than I/O threads and workers: none of them may hold the server.
    const loris = Array.from({ length: 12 }, () => {
      const sock = net.connect(server.port, '127.0.0.1');
      const t0 = Date.now();
      let i = 0;
      const timer = setInterval(() => { if (i < head.length && !sock.destroyed) sock.write(head[i++]); }, 250);
      const closedAfter = new Promise((resolve) => {
        sock.on('close', () => { clearInterval(timer); resolve(Date.now() - t0); });
        sock.on('error', () => {});
      });
      return { sock, closedAfter, sent: () => i };
    });
    const u = await registerUser(server);
    for (let k = 0; k < 10; k++) {
      const t0 = Date.now();
      const res = await api(server, 'GET', '/me', { cookie: u.cookie, timeoutMs: 3000 });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - t0 < 1000, `/me took ${Date.now() - t0} ms while slow clients were connected`);
      await sleep(200);
    }
    const limit = (READ_TIMEOUT_S + 3) * 1000;
    const results = await Promise.all(loris.map(async (l) => {
      const ms = await Promise.race([l.closedAfter, sleep(limit).then(() => null)]);
      l.sock.destroy();
      return { ms, sent: l.sent() };
    }));
    for (const r of results) {
      assert.ok(r.ms !== null, `a slow client was still connected after ${limit} ms`);
      assert.ok(r.sent < head.length, 'cut off before it finished its headers');
    }
  });

  test('an idle keep-alive connection is closed, then new requests still work', async () => {
    const { text, closed } = await rawRequest(server, 'GET /me HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: (READ_TIMEOUT_S + 60) * 1000 });
    assert.equal(parseRaw(text).status, 401);
    assert.ok(closed);
    assert.equal((await api(server, 'GET', '/me')).status, 401);
  });
});

describe('static files and path traversal', () => {
  test('control: a static file is served with its MIME type', async () => {
    const res = await api(server, 'GET', '/index.html');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
  });

  // web/ sits in the repository, so ../README.md is a real file one level up.
  for (const path of ['/../README.md', '/%2e%2e/README.md', '/..%2fREADME.md', '/.%2e/README.md','/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/static/..%2f..%2f..%2fetc/passwd',
    '//evil.example/..', '//evil.example/%2e%2e', '/..%5c..%5cetc/passwd', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd']) {
    test(`${path}: 404, no redirect`, async () => {
      const { text } = await rawRequest(server, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const res = parseRaw(text);
      assert.equal(res.status, 404, text.slice(0, 300));
      assert.equal(res.headers.location, undefined, 'no Location header');
      assert.doesNotMatch(res.body, /root:|# vmshare/);
    });
  }
});

test('SIGTERM: exits 0 within 10 s, also with an idle keep-alive client connected', async () => {
  const s = await startServer();
  const sock = net.connect(s.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.on('error', () => {});
  sock.write('GET /me HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => sock.once('data', r));
  const { code, signal, ms } = await s.stop();
  sock.destroy();
  assert.equal(signal, null, `killed by ${signal}: ${s.logs()}`);
  assert.equal(code, 0, s.logs());
  assert.ok(ms < 10000, `took ${ms} ms`);
});
