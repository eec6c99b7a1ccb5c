// CSRF defence: cookie-authenticated state changes from a foreign Origin/Referer are refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, registerUser, startServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

// POST /logout is the state-changing cookie route; 200 proves the request went through.
const logout = (auth, headers) => api(server, 'POST', '/logout', { ...auth, headers });
const alive = async (u) => (await api(server, 'GET', '/me', { token: u.token })).status === 200;

test('cookie + foreign Origin: 403 and the session is untouched', async () => {
  const u = await registerUser(server);
  const res = await logout({ cookie: u.cookie }, { Origin: 'http://evil.example' });
  assert.equal(res.status, 403, res.text);
  assert.equal(typeof res.body.detail, 'string');
  assert.ok(await alive(u), 'the refused logout must not revoke the token');
});

test('cookie + foreign Origin that only looks like ours: 403', async () => {
  const u = await registerUser(server);
  for (const origin of [`http://127.0.0.1:${server.port}.evil.example`, `http://127.0.0.1:${server.port + 1}`, 'null'])
    assert.equal((await logout({ cookie: u.cookie }, { Origin: origin })).status, 403, origin);
});

test('cookie + foreign Referer without Origin: 403', async () => {
  const u = await registerUser(server);
  assert.equal((await logout({ cookie: u.cookie }, { Referer: 'http://evil.example/page' })).status, 403);
  assert.ok(await alive(u));
});

test('cookie + same-origin Origin or Referer: 200', async () => {
  const a = await registerUser(server);
  assert.equal((await logout({ cookie: a.cookie }, { Origin: server.url })).status, 200);
  const b = await registerUser(server);
  assert.equal((await logout({ cookie: b.cookie }, { Referer: `${server.url}/profile` })).status, 200);
});

test('cookie without Origin or Referer (non-browser client): 200', async () => {
  const u = await registerUser(server);
  assert.equal((await logout({ cookie: u.cookie })).status, 200);
});

test('bearer token with a foreign Origin: 200 (a cross-site page cannot send our bearer)', async () => {
  const u = await registerUser(server);
  assert.equal((await logout({ token: u.token }, { Origin: 'http://evil.example' })).status, 200);
  assert.ok(!(await alive(u)));
});
