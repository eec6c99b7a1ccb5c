// Login throttling: 5 failures for one login name lock it (429 + Retry-After) until the window passes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, registerUser, sleep, startServer } from './lib/server.mjs';

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
