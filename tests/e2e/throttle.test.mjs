// Login throttling: 5 failures for one login name lock it (429 + Retry-After) until the window passes;
// attempts are reserved before the hash (parallel guesses), per address too; sign-up limits; unlock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { api, prepareEnv, registerUser, runVmshare, sleep, startServer, uniqueLogin } from './lib/server.mjs';

const WINDOW_S = 3;
let server;
before(async () => { server = await startServer({ env: { LOGIN_FAILURE_WINDOW_S: String(WINDOW_S) } }); });
after(async () => { await server?.stop(); });

const login = (username, password, path = '/login') => api(server, 'POST', path, { json: { username, password } });

test('5 failures, then 429 with Retry-After even with the right password; passes after the window', async () => {
  const u = await registerUser(server);
  const bystander = await registerUser(server);
  for (let i = 0; i < 5; i++) assert.equal((await login(u.login, `wrong-${i}-password`)).status, 401, `failure ${i + 1}`);

  const locked = await login(u.login, u.password);
  assert.equal(locked.status, 429, locked.text);
  assert.equal(typeof locked.body.detail, 'string');
  assert.equal(locked.headers['set-cookie'], undefined, 'a locked login gets no token');
  const retry = Number(locked.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= WINDOW_S, `Retry-After: ${locked.headers['retry-after']}`);
  assert.equal((await login(u.login, u.password, '/token')).status, 429, '/token shares the counter');

  // Another login name is not affected.
  assert.equal((await login(bystander.login, bystander.password)).status, 200);

  await sleep(retry * 1000 + 300);
  const res = await login(u.login, u.password);
  assert.equal(res.status, 200, res.text);
});

test('a success resets the count: 4 failures, success, 4 failures still not locked', async () => {
  const u = await registerUser(server);
  for (let i = 0; i < 4; i++) assert.equal((await login(u.login, 'wrong password')).status, 401);
  assert.equal((await login(u.login, u.password)).status, 200);
  for (let i = 0; i < 4; i++) assert.equal((await login(u.login, 'wrong password')).status, 401);
  assert.equal((await login(u.login, u.password)).status, 200);
});

test('unknown login names are throttled too (no enumeration by a missing 429)', async () => {
  const name = `ghost_${Date.now()}`;
  for (let i = 0; i < 5; i++) assert.equal((await login(name, 'whatever pw')).status, 401);
  assert.equal((await login(name, 'whatever pw')).status, 429);
});

// A client address of its own per test (the loopback peer is a trusted proxy by default), so
// address counters never mix between tests, nor between test runs sharing a Redis.
const addressOf = () => `10.${randInt(256)}.${randInt(256)}.${1 + randInt(254)}`;
const randInt = (n) => Math.floor(Math.random() * n);
const from = (addr) => ({ 'X-Forwarded-For': addr });
const loginFrom = (srv, addr, username, password, path = '/login') =>
  api(srv, 'POST', path, { json: { username, password }, headers: from(addr) });
const tally = (responses) => responses.reduce((t, r) => ({ ...t, [r.status]: (t[r.status] ?? 0) + 1 }), {});

test('40 parallel wrong passwords for one login get exactly 5 verdicts (401), the rest 429', async () => {
  const u = await registerUser(server);
  const all = await Promise.all(Array.from({ length: 40 }, (_, i) => login(u.login, `wrong-${i}-pw`)));
  assert.deepEqual(tally(all), { 401: 5, 429: 35 });
  for (const r of all.filter((x) => x.status === 429)) assert.ok(Number(r.headers['retry-after']) >= 1, r.text);
  assert.equal((await login(u.login, u.password)).status, 429, 'locked, even with the right password');
});

test('the counter ignores case: Alice and alice share it', async () => {
  const name = `Case_${Date.now()}`;
  for (let i = 0; i < 5; i++) assert.equal((await login(i % 2 ? name.toLowerCase() : name, 'nope nope')).status, 401);
  assert.equal((await login(name.toUpperCase(), 'nope nope')).status, 429);
});

test('logins that cannot be names are 400 before any lookup or counter: huge, or odd characters', async () => {
  const huge = await Promise.all(Array.from({ length: 8 }, (_, i) => login(`${i}${'x'.repeat(900 * 1024)}`, 'whatever pw')));
  for (const r of huge) {
    assert.equal(r.status, 400, r.text.slice(0, 200));
    assert.match(r.body.detail, /Login must be 1-64 characters/);
    assert.ok(r.text.length < 300, 'the answer does not echo the login');
  }
  for (const name of ['a b', 'é', 'a\u0000b', 'x'.repeat(65)]) assert.equal((await login(name, 'whatever pw')).status, 400, name);
  // None of those counted: a failing valid name still has its 5 tries.
  const u = await registerUser(server);
  for (let i = 0; i < 4; i++) assert.equal((await login(u.login, 'wrong pw')).status, 401);
  assert.equal((await login(u.login, u.password)).status, 200);
});

test('vmshare user unlock clears a lock before its window ends', async () => {
  const u = await registerUser(server);
  for (let i = 0; i < 5; i++) await login(u.login, 'wrong pw');
  assert.equal((await login(u.login, u.password)).status, 429);
  const cli = await runVmshare(['user', 'unlock', u.login.toUpperCase()], { env: server.env });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(u.login.toUpperCase()));
  const res = await login(u.login, u.password);
  assert.equal(res.status, 200, res.text);
  const bad = await runVmshare(['user', 'unlock', 'no spaces allowed'], { env: server.env });
  assert.equal(bad.code, 2);
});

describe('per-address limits', () => {
  const MAX = 6;
  let srv;
  before(async () => {
    srv = await startServer({ env: { LOGIN_FAILURE_WINDOW_S: '60', LOGIN_ADDRESS_MAX_FAILURES: String(MAX) } });
  });
  after(async () => { await srv?.stop(); });

  test('one address cannot try many accounts: after its failures, 429 for any login, right password or not', async () => {
    const addr = addressOf();
    const victim = await registerUser(srv);
    for (let i = 0; i < MAX; i++) assert.equal((await loginFrom(srv, addr, uniqueLogin('spray'), 'guess guess')).status, 401, `try ${i + 1}`);
    const refused = await loginFrom(srv, addr, victim.login, victim.password);
    assert.equal(refused.status, 429, refused.text);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal((await loginFrom(srv, addr, victim.login, victim.password, '/token')).status, 429);
    // The victim, from elsewhere, is not locked out: the refused tries never reached its counter.
    assert.equal((await loginFrom(srv, addressOf(), victim.login, victim.password)).status, 200);
  });

  test('parallel sprays from one address get at most its limit of verdicts', async () => {
    const addr = addressOf();
    const all = await Promise.all(Array.from({ length: 30 }, () => loginFrom(srv, addr, uniqueLogin('p'), 'guess guess')));
    assert.deepEqual(tally(all), { 401: MAX, 429: 30 - MAX });
  });

  test('an address cannot lock out more than limit/5 accounts', async () => {
    const addr = addressOf();
    const victims = [await registerUser(srv), await registerUser(srv)];
    for (const v of victims) for (let i = 0; i < 5; i++) await loginFrom(srv, addr, v.login, 'wrong wrong');
    // 6 failures were allowed: the first victim locked (5), the second has 1 failure, then the address is out.
    const elsewhere = addressOf();
    assert.equal((await loginFrom(srv, elsewhere, victims[0].login, victims[0].password)).status, 429);
    assert.equal((await loginFrom(srv, elsewhere, victims[1].login, victims[1].password)).status, 200);
  });

  test('successful sign-ins do not use up an address', async () => {
    const addr = addressOf();
    const u = await registerUser(srv);
    for (let i = 0; i < MAX * 2; i++) assert.equal((await loginFrom(srv, addr, u.login, u.password)).status, 200);
    assert.equal((await loginFrom(srv, addr, uniqueLogin(), 'guess guess')).status, 401);
  });

  test('vmshare user unlock --address clears an address', async () => {
    const addr = addressOf();
    for (let i = 0; i < MAX; i++) await loginFrom(srv, addr, uniqueLogin('s'), 'guess guess');
    const u = await registerUser(srv);
    assert.equal((await loginFrom(srv, addr, u.login, u.password)).status, 429);
    const cli = await runVmshare(['user', 'unlock', u.login, '--address', addr], { env: srv.env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((await loginFrom(srv, addr, u.login, u.password)).status, 200);
  });
});

describe('sign-up limits', () => {
  const PER_ADDRESS = 3;
  const GLOBAL = 5;
  let srv;
  before(async () => {
    srv = await startServer({ env: { SIGNUP_PER_ADDRESS_PER_HOUR: String(PER_ADDRESS), SIGNUP_PER_HOUR: String(GLOBAL) } });
  });
  after(async () => { await srv?.stop(); });
  const signUp = (addr) => api(srv, 'POST', '/register', { json: { login: uniqueLogin('su'), password: 'long enough pw' }, headers: from(addr) });

  test('per address and in all, 429 with Retry-After; parallel sign-ups never pass the limits', async () => {
    const a = addressOf();
    const first = await Promise.all(Array.from({ length: 8 }, () => signUp(a)));
    const t = tally(first);
    // In production the global counter is shared with every other server on that Redis, so
    // only the upper bounds hold there; alone, the per-address limit is exact.
    assert.ok((t[200] ?? 0) <= PER_ADDRESS, JSON.stringify(t));
    if (srv.storage === 'embedded') assert.equal(t[200], PER_ADDRESS, JSON.stringify(t));
    for (const r of first.filter((x) => x.status === 429)) {
      const wait = Number(r.headers['retry-after']);
      assert.ok(wait >= 1 && wait <= 3600, r.headers['retry-after']);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const more = [];
    for (let i = 0; i < 4; i++) more.push(await signUp(addressOf()));
    const m = tally(more);
    assert.ok((t[200] ?? 0) + (m[200] ?? 0) <= GLOBAL, JSON.stringify({ t, m }));
    if (srv.storage === 'embedded') assert.deepEqual(m, { 200: GLOBAL - PER_ADDRESS, 429: 4 - (GLOBAL - PER_ADDRESS) });
  });

  test('input errors are not counted: a bad login is 400 and uses nothing up', async () => {
    const a = addressOf();
    for (let i = 0; i < 10; i++)
      assert.equal((await api(srv, 'POST', '/register', { json: { login: 'bad login', password: 'long enough pw' }, headers: from(a) })).status, 400);
  });
});

test('the new keys are validated at start-up (naming the key) and listed by --help', async () => {
  const keys = ['LOGIN_ADDRESS_MAX_FAILURES', 'SIGNUP_PER_ADDRESS_PER_HOUR', 'SIGNUP_PER_HOUR', 'HASH_QUEUE_MAX',
    'HASH_QUEUE_WAIT_MS', 'THROTTLE_MEMORY_ENTRIES'];
  for (const [key, value] of [['LOGIN_ADDRESS_MAX_FAILURES', '0'], ['SIGNUP_PER_ADDRESS_PER_HOUR', 'many'],
    ['SIGNUP_PER_HOUR', '-1'], ['HASH_QUEUE_MAX', '0'], ['HASH_QUEUE_WAIT_MS', '5'], ['THROTTLE_MEMORY_ENTRIES', '10']]) {
    const bad = await runVmshare([], { env: (await prepareEnv({ env: { [key]: value } })).env });
    assert.equal(bad.code, 2, `${key}=${value}: ${bad.stderr}`);
    assert.match(bad.stderr, new RegExp(`configuration error: ${key}`));
  }
  const help = await runVmshare(['--help']);
  for (const key of keys) assert.match(help.stdout, new RegExp(`\\b${key}\\b`), key);
  assert.match((await runVmshare(['user', '--help'])).stdout, /unlock/);
});
