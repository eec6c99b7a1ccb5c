// CSRF defence: cookie-authenticated state changes from a foreign Origin/Referer are refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { api, registerUser, startServer, uniqueLogin } from './lib/server.mjs';

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

// Login CSRF: a foreign page's form POST to /login, /token or /register must not sign the
// visitor's browser in (as the attacker). Browsers send Origin on such POSTs; API clients send none.
describe('sign-in routes refuse foreign browsers', () => {
  const form = (u) => ({ username: u.login, password: u.password });
  const routes = (u) => [
    ['/login', { json: form(u) }],
    ['/token', { form: form(u) }],
    ['/register', { json: { login: uniqueLogin('csrf'), password: 'long enough pw' } }],
    ['/register', { form: { login: uniqueLogin('csrf'), password: 'long enough pw' } }],
  ];

  test('foreign or null Origin, or a foreign Referer: 403, no cookie, no account', async () => {
    const u = await registerUser(server);
    for (const headers of [{ Origin: 'http://evil.example' }, { Origin: 'null' }, { Origin: `http://127.0.0.1:${server.port + 1}` },
      { Referer: 'http://evil.example/form.html' }]) {
      for (const [path, body] of routes(u)) {
        const res = await api(server, 'POST', path, { ...body, headers });
        assert.equal(res.status, 403, `${path} ${JSON.stringify(headers)}: ${res.text}`);
        assert.equal(typeof res.body.detail, 'string');
        assert.equal(res.headers['set-cookie'], undefined, path);
        if (path === '/register') {
          const taken = await api(server, 'POST', '/login', { json: { username: body.json?.login ?? body.form.login, password: 'long enough pw' } });
          assert.equal(taken.status, 401, 'the refused sign-up made no account');
        }
      }
    }
  });

  test('same-site Origin or Referer, and API clients with neither: 200', async () => {
    const u = await registerUser(server);
    for (const headers of [{ Origin: server.url }, { Referer: `${server.url}/signup` }, {}])
      for (const [path, body] of routes(u)) {
        const res = await api(server, 'POST', path, { ...body, headers });
        assert.equal(res.status, 200, `${path} ${JSON.stringify(headers)}: ${res.text}`);
      }
  });

  test('an origin the operator allowed is accepted', async () => {
    const other = await startServer({ env: { ALLOWED_ORIGINS: 'https://app.example' } });
    try {
      const u = await registerUser(other);
      const res = await api(other, 'POST', '/login', { json: form(u), headers: { Origin: 'https://app.example' } });
      assert.equal(res.status, 200, res.text);
      assert.equal((await api(other, 'POST', '/login', { json: form(u), headers: { Origin: 'https://app.example.evil' } })).status, 403);
    } finally {
      await other.stop();
    }
  });
});
