// The Authentication routes of API.md as a client sees them: statuses, bodies, cookies, tokens.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { decodePayload, readSecret, signToken, tamperPayload } from './lib/jwt.mjs';
import { api, cookieFrom, registerUser, startServer, uniqueLogin } from './lib/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const me = (auth) => api(server, 'GET', '/me', auth);

function assertAccessCookie(res, token) {
  const line = (res.headers['set-cookie'] || []).find((c) => c.startsWith('access_token='));
  assert.ok(line, `no access_token cookie in ${JSON.stringify(res.headers['set-cookie'])}`);
  const attrs = line.split(';').map((a) => a.trim());
  assert.equal(attrs[0], `access_token=${token}`);
  assert.ok(attrs.includes('HttpOnly'), line);
  assert.ok(attrs.includes('SameSite=Lax'), line);
  assert.ok(attrs.includes('Path=/'), line);
  assert.ok(attrs.includes('Max-Age=1800'), `default lifetime is 30 min: ${line}`);
  assert.ok(!attrs.includes('Secure'), `COOKIE_SECURE=false: ${line}`);
}

function assertError(res, status) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'], /application\/json/);
  assert.equal(typeof res.body.detail, 'string', res.text);
  assert.ok(res.body.detail.length > 0);
}

describe('POST /register', () => {
  test('200 with message, id, bearer token and the cookie', async () => {
    const login = uniqueLogin('reg');
    const res = await api(server, 'POST', '/register', { json: { login, password: 'correct horse', g_recaptcha_response: '' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, 'User registered');
    assert.equal(typeof res.body.id, 'number');
    assert.equal(res.body.token_type, 'bearer');
    assertAccessCookie(res, res.body.access_token);
    const claims = decodePayload(res.body.access_token);
    assert.equal(claims.sub, login);
    assert.equal(claims.uid, res.body.id);
    assert.equal(claims.exp - claims.iat, 1800);
    assert.ok(typeof claims.jti === 'string' && claims.jti.length >= 16);
    const who = await me({ cookie: cookieFrom(res) });
    assert.deepEqual(who.body, { id: res.body.id, login, role: 'user', snapshot_stored_mb: 0, snapshot_capacity_mb: 300 });
  });

  test('missing login or password: 400', async () => {
    for (const json of [{ password: 'long enough pw' }, { login: uniqueLogin() }, { login: '', password: 'long enough pw' }, {}])
      assertError(await api(server, 'POST', '/register', { json }), 400);
  });

  test('bad login names: 400', async () => {
    for (const login of ['has space', 'a'.repeat(65), 'émile', 'a/b', 'semi;colon', '<script>'])
      assertError(await api(server, 'POST', '/register', { json: { login, password: 'long enough pw' } }), 400);
  });

  test('login of 64 allowed characters is accepted', async () => {
    const login = `A-z_0.9${uniqueLogin()}`.padEnd(64, 'x');
    const res = await api(server, 'POST', '/register', { json: { login, password: 'long enough pw' } });
    assert.equal(res.status, 200, res.text);
  });

  test('password over 72 bytes: 400; exactly 72 bytes (multi-byte) works', async () => {
    assertError(await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'p'.repeat(73) } }), 400);
    // 37 two-byte characters = 74 bytes though only 37 characters.
    assertError(await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'é'.repeat(37) } }), 400);
    const u = await registerUser(server, uniqueLogin(), 'é'.repeat(36));
    const res = await api(server, 'POST', '/login', { json: { username: u.login, password: 'é'.repeat(36) } });
    assert.equal(res.status, 200, res.text);
  });

  test('existing login: 409 with the right and with a wrong password, same answer', async () => {
    const u = await registerUser(server);
    const right = await api(server, 'POST', '/register', { json: { login: u.login, password: u.password } });
    const wrong = await api(server, 'POST', '/register', { json: { login: u.login, password: 'something else' } });
    assertError(right, 409);
    assertError(wrong, 409);
    assert.deepEqual(right.body, wrong.body);
    assert.equal(right.headers['set-cookie'], undefined);
  });
});

describe('POST /login and /token', () => {
  let user;
  before(async () => { user = await registerUser(server); });

  test('/login: 200 with message, id, token and cookie', async () => {
    const res = await api(server, 'POST', '/login', { json: { username: user.login, password: user.password, g_recaptcha_response: '' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, 'Login successful');
    assert.equal(res.body.id, user.id);
    assert.equal(res.body.token_type, 'bearer');
    assertAccessCookie(res, res.body.access_token);
    assert.equal((await me({ token: res.body.access_token })).body.login, user.login);
  });

  test('/login: unknown user and wrong password are both 401 with the same message', async () => {
    const unknown = await api(server, 'POST', '/login', { json: { username: uniqueLogin('nobody'), password: user.password } });
    const wrong = await api(server, 'POST', '/login', { json: { username: user.login, password: 'not the password' } });
    assertError(unknown, 401);
    assertError(wrong, 401);
    assert.equal(unknown.body.detail, wrong.body.detail);
    assert.equal(unknown.headers['set-cookie'], undefined);
    assert.equal(wrong.headers['set-cookie'], undefined);
  });

  test('/login: missing username or password: 400', async () => {
    assertError(await api(server, 'POST', '/login', { json: { password: user.password } }), 400);
    assertError(await api(server, 'POST', '/login', { json: { username: user.login } }), 400);
  });

  test('/token with JSON: 200 {access_token, token_type, id} and cookie', async () => {
    const res = await api(server, 'POST', '/token', { json: { username: user.login, password: user.password } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'id', 'token_type']);
    assert.equal(res.body.id, user.id);
    assert.equal(res.body.token_type, 'bearer');
    assertAccessCookie(res, res.body.access_token);
  });

  test('/token with OAuth2 form fields: 200', async () => {
    const res = await api(server, 'POST', '/token', { form: { grant_type: 'password', username: user.login, password: user.password } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, user.id);
    assert.equal((await me({ token: res.body.access_token })).status, 200);
  });

  test('/token: wrong password 401', async () => {
    assertError(await api(server, 'POST', '/token', { form: { username: user.login, password: 'nope nope' } }), 401);
  });
});

describe('GET /me and /user_info', () => {
  test('/me by cookie and by bearer token', async () => {
    const u = await registerUser(server);
    assert.deepEqual((await me({ cookie: u.cookie })).body, { id: u.id, login: u.login, role: 'user', snapshot_stored_mb: 0, snapshot_capacity_mb: 300 });
    assert.deepEqual((await me({ token: u.token })).body, { id: u.id, login: u.login, role: 'user', snapshot_stored_mb: 0, snapshot_capacity_mb: 300 });
  });

  test('no or garbage credentials: 401', async () => {
    assertError(await me({}), 401);
    assertError(await me({ token: 'not-a-jwt' }), 401);
    assertError(await me({ cookie: 'access_token=garbage' }), 401);
    assertError(await api(server, 'GET', '/user_info'), 401);
  });

  test('/user_info without a VM: both null', async () => {
    const u = await registerUser(server);
    const res = await api(server, 'GET', '/user_info', { cookie: u.cookie });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { os_type: null, vmid: null });
  });
});

describe('POST /logout', () => {
  test('200, cookie cleared, that token then 401 (cookie and bearer); other tokens still work', async () => {
    const u = await registerUser(server);
    const second = await api(server, 'POST', '/login', { json: { username: u.login, password: u.password } });
    const res = await api(server, 'POST', '/logout', { cookie: u.cookie });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { message: 'Logged out' });
    const cleared = (res.headers['set-cookie'] || []).find((c) => c.startsWith('access_token='));
    assert.ok(cleared, 'logout clears the cookie');
    assert.match(cleared, /^access_token=;/);
    assert.match(cleared, /Max-Age=0/);
    assertError(await me({ cookie: u.cookie }), 401);
    assertError(await me({ token: u.token }), 401);
    assertError(await api(server, 'POST', '/logout', { token: u.token }), 401);
    assert.equal((await me({ token: second.body.access_token })).status, 200);
  });

  test('without credentials: 401', async () => {
    assertError(await api(server, 'POST', '/logout'), 401);
  });
});

describe('forged and expired JWTs', () => {
  let u, secret, claims;
  before(async () => {
    u = await registerUser(server);
    secret = readSecret(server);
    claims = decodePayload(u.token);
  });
  const now = () => Math.floor(Date.now() / 1000);

  test('control: a token we sign with the server secret is accepted', async () => {
    // Proves the forgeries below fail for what they change, not because signing is wrong here.
    const t = signToken({ ...claims, jti: `${claims.jti}c`, iat: now(), exp: now() + 600 }, secret);
    assert.equal((await me({ token: t })).status, 200);
  });

  test('alg none: 401', async () => {
    assertError(await me({ token: signToken(claims, '', 'none') }), 401);
    assertError(await me({ token: signToken(claims, '', 'none').slice(0, -1) }), 401);
  });

  test('tampered payload with the original signature: 401', async () => {
    const other = await registerUser(server);
    assertError(await me({ token: tamperPayload(u.token, { uid: other.id, sub: other.login }) }), 401);
    assertError(await me({ token: tamperPayload(u.token, { exp: now() + 86400 }) }), 401);
  });

  test('HS512 with the same secret: 401', async () => {
    assertError(await me({ token: signToken(claims, secret, 'HS512') }), 401);
  });

  test('expired token (signed with the real secret): 401', async () => {
    const t = signToken({ ...claims, iat: now() - 7200, exp: now() - 3600 }, secret);
    assertError(await me({ token: t }), 401);
    assertError(await me({ cookie: `access_token=${t}` }), 401);
  });

  test('a valid signature for a user that does not exist: 401', async () => {
    const t = signToken({ ...claims, uid: 987654, sub: uniqueLogin('ghost'), exp: now() + 600 }, secret);
    assertError(await me({ token: t }), 401);
  });
});

describe('input shapes on the sign-in routes', () => {
  test('a NUL byte in a password: 400 at /register (crypt would cut it short), 401 at /login', async () => {
    const res = await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'long\u0000enough pw' } });
    assertError(res, 400);
    const u = await registerUser(server);
    assertError(await api(server, 'POST', '/login', { json: { username: u.login, password: `${u.password}\u0000x` } }), 401);
  });

  test('/login and /token with a login that cannot exist: 400 naming the rule', async () => {
    for (const username of ['has space', 'a'.repeat(65), 'émile'])
      for (const path of ['/login', '/token']) {
        const res = await api(server, 'POST', path, { json: { username, password: 'whatever pw' } });
        assertError(res, 400);
        assert.match(res.body.detail, /Login must be/);
      }
  });
});
