// Two servers sharing one PostgreSQL and one Redis (production storage only) agree on revoked
// tokens and on login-failure counts: a logout or a lock-out on one holds on the other.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { STORAGE, api, registerUser, startServer, uniqueLogin } from './lib/server.mjs';

const skip = STORAGE === 'production' ? false : 'needs a shared PostgreSQL and Redis: runs with VMSHARE_E2E_STORAGE=production';
let a, b;
before(async () => {
  if (skip) return;
  const SECRET_KEY = randomBytes(24).toString('hex');
  a = await startServer({ env: { SECRET_KEY } });
  // Same database schema, Redis and secret as A; its own data folder and port.
  b = await startServer({ env: { SECRET_KEY, DATABASE_URL: a.env.DATABASE_URL, REDIS_URL: a.env.REDIS_URL } });
});
after(async () => { await b?.stop(); await a?.stop(); });

test('a token issued by A works on B; logout on A revokes it on B', { skip }, async () => {
  const u = await registerUser(a);
  assert.equal((await api(b, 'GET', '/me', { cookie: u.cookie })).status, 200);
  assert.equal((await api(a, 'POST', '/logout', { cookie: u.cookie })).status, 200);
  assert.equal((await api(b, 'GET', '/me', { cookie: u.cookie })).status, 401);
});

test('5 failures on A lock the login on B too', { skip }, async () => {
  const u = await registerUser(a);
  for (let i = 0; i < 5; i++)
    assert.equal((await api(a, 'POST', '/login', { json: { username: u.login, password: 'wrong password' } })).status, 401);
  const res = await api(b, 'POST', '/login', { json: { username: u.login, password: u.password } });
  assert.equal(res.status, 429, res.text);
  assert.ok(Number(res.headers['retry-after']) >= 1);
  // A login name registered on B is taken on A.
  const name = uniqueLogin();
  await registerUser(b, name);
  assert.equal((await api(a, 'POST', '/register', { json: { login: name, password: 'long enough pw' } })).status, 409);
});
