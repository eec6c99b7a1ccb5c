// Sign-ins never hold a request worker (issue 12, item 1): bcrypt waits happen off the workers,
// the hash queue is bounded (503 + Retry-After past it), and a crowd of anonymous sign-ins
// leaves a signed-in user's requests and console working. Outcomes are asserted, never timings.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { fakeCatalog, startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { api, registerUser, startServer, uniqueLogin } from './lib/server.mjs';
import { consoleUrl, waitFor } from './lib/vm_helpers.mjs';

const tally = (rs) => rs.reduce((t, r) => ({ ...t, [r.status]: (t[r.status] ?? 0) + 1 }), {});
const wrongLogin = (srv, username = uniqueLogin('anon')) =>
  api(srv, 'POST', '/login', { json: { username, password: 'not the password' }, timeoutMs: 60000 });

describe('one request worker, real bcrypt cost', () => {
  let server, user;
  before(async () => {
    server = await startServer({ env: { VMSHARE_WORKER_THREADS: '1', HASH_THREADS: '1', BCRYPT_COST: '12', HASH_QUEUE_MAX: '2' } });
    user = await registerUser(server);
  });
  after(async () => { await server?.stop(); });

  test('GET /me answers while sign-ins wait for their hashes (the only worker is not held)', async () => {
    let settled = 0;
    const logins = Array.from({ length: 3 }, () => wrongLogin(server).then((r) => { settled++; return r; }));
    await new Promise((r) => setTimeout(r, 50));  // let them reach the server first
    const me = await api(server, 'GET', '/me', { token: user.token });
    const settledWhenMeAnswered = settled;
    assert.equal(me.status, 200, me.text);
    const answers = await Promise.all(logins);
    for (const r of answers) assert.ok([401, 503].includes(r.status), r.text);
    // Three cost-12 hashes one after another on one thread: /me came back before the last.
    assert.ok(settledWhenMeAnswered < 3, `/me waited for all ${settledWhenMeAnswered} sign-ins`);
  });

  test('past the hash queue: 503 with Retry-After, counted in the metrics; every request answered', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => wrongLogin(server)));
    const t = tally(answers);
    assert.deepEqual(Object.keys(t).filter((s) => !['401', '503'].includes(s)), [], JSON.stringify(t));
    assert.ok(t[503] >= 1, JSON.stringify(t));
    for (const r of answers.filter((x) => x.status === 503)) {
      assert.ok(Number(r.headers['retry-after']) >= 1, r.text);
      assert.match(r.body.detail, /retry/i);
    }
    const metrics = await api(server, 'GET', '/metrics');
    const count = (reason) => Number((metrics.text.match(new RegExp(`vmshare_hash_queue_rejected_total\\{reason="${reason}"\\} (\\S+)`)) ?? [])[1] ?? 0);
    assert.ok(count('full') + count('timeout') >= t[503], metrics.text.split('\n').filter((l) => l.includes('hash_queue')).join('\n'));
    // A 503 hands its reservation back: that login still has all its tries.
    const u = await registerUser(server);
    for (let i = 0; i < 4; i++) assert.equal((await wrongLogin(server, u.login)).status, 401);
    assert.equal((await api(server, 'POST', '/login', { json: { username: u.login, password: u.password } })).status, 200);
  });
});

describe('one request worker, a slow reCAPTCHA verifier', () => {
  let server, user, verifier, url;
  before(async () => {
    // Answers success after 1.5 s, like a verify URL far away.
    verifier = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => { res.setHeader('Content-Type', 'application/json'); res.end('{"success": true}'); }, 1500));
    });
    await new Promise((r) => verifier.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${verifier.address().port}/siteverify`;
    server = await startServer({ env: { VMSHARE_WORKER_THREADS: '1', RECAPTCHA_SECRET: 'test-secret', RECAPTCHA_VERIFY_URL: url } });
    const login = uniqueLogin();
    const reg = await api(server, 'POST', '/register', { json: { login, password: 'long enough pw', g_recaptcha_response: 'x' } });
    assert.equal(reg.status, 200, reg.text);
    user = { token: reg.body.access_token };
  });
  after(async () => { await server?.stop(); verifier?.close(); });

  test('GET /me answers while sign-ins wait for the verify URL (the only worker is not held)', async () => {
    let settled = 0;
    const logins = Array.from({ length: 2 }, () => api(server, 'POST', '/login',
      { json: { username: uniqueLogin(), password: 'whatever pw', g_recaptcha_response: 'x' } }).then((r) => { settled++; return r; }));
    await new Promise((r) => setTimeout(r, 100));
    const me = await api(server, 'GET', '/me', { token: user.token });
    const settledWhenMeAnswered = settled;
    assert.equal(me.status, 200, me.text);
    for (const r of await Promise.all(logins)) assert.equal(r.status, 401, r.text);
    assert.equal(settledWhenMeAnswered, 0, '/me waited for the reCAPTCHA checks');
  });
});

describe('200 anonymous sign-ins in flight', () => {
  let server, user, vmid, rfb;
  before(async () => {
    server = await startFakeVmServer({
      env: { BCRYPT_COST: '10', HASH_QUEUE_WAIT_MS: '1500', VMSHARE_IMAGES: await fakeCatalog() },
    });
    user = await registerUser(server);
    const run = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
    assert.equal(run.status, 200, run.text);
    vmid = run.body.vm.vmid;
    rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
  });
  after(async () => {
    rfb?.close();
    await server?.stop();
  });

  test('a signed-in user and a console keep working; every sign-in gets a documented answer', { timeout: 60000 }, async () => {
    const known = await registerUser(server);
    const signIns = Array.from({ length: 200 }, (_, i) => {
      if (i % 10 === 0) return api(server, 'POST', '/login', { json: { username: known.login, password: known.password }, timeoutMs: 45000 });
      if (i % 10 === 1) return api(server, 'POST', '/register', { json: { login: uniqueLogin('load'), password: 'long enough pw' }, timeoutMs: 45000 });
      return wrongLogin(server);
    });
    let done = false;
    const all = Promise.allSettled(signIns).finally(() => { done = true; });

    // Meanwhile: the signed-in user's requests, one after another, and the console's frames.
    const updatesBefore = rfb.updates;
    const userAnswers = [];
    while (!done) {
      for (const path of ['/me', '/images', '/user_info', '/vm/status', '/'])
        userAnswers.push({ path, status: (await api(server, 'GET', path, { token: user.token, timeoutMs: 10000 })).status });
    }
    const second = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
    second.close();

    const settled = await all;
    const lost = settled.filter((s) => s.status === 'rejected');
    assert.deepEqual(lost.map((s) => s.reason.message), [], 'no sign-in lost');
    const answers = settled.map((s) => s.value);
    const t = tally(answers);
    assert.deepEqual(Object.keys(t).filter((s) => !['200', '401', '429', '503'].includes(s)), [], JSON.stringify(t));
    for (const r of answers.filter((x) => x.status === 429 || x.status === 503)) assert.ok(Number(r.headers['retry-after']) >= 1, r.text);
    assert.ok((t[200] ?? 0) >= 1 && (t[401] ?? 0) >= 1, JSON.stringify(t));

    assert.ok(userAnswers.length >= 5);
    assert.deepEqual(userAnswers.filter((a) => a.status !== 200), [], 'every request of the signed-in user succeeded');
    assert.ok(!rfb.closed, 'the console stayed open');
    await waitFor('console frames after the sign-ins', async () => rfb.updates > updatesBefore, 10000, 50);
  });
});
