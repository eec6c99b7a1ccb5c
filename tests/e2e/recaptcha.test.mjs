// reCAPTCHA against a fake verify server on loopback: accept, reject, unreachable.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { api, freePort, registerUser, startServer, uniqueLogin } from './lib/server.mjs';

const SECRET = 'test-recaptcha-secret';
const GOOD = 'good-captcha-token';

// Answers like Google's siteverify: success only for our secret and the GOOD response.
function fakeVerifier() {
  const calls = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      calls.push({ method: req.method, form });
      const success = form.secret === SECRET && form.response === GOOD;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(success ? { success: true } : { success: false, 'error-codes': ['invalid-input-response'] }));
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, calls, url: `http://127.0.0.1:${srv.address().port}/siteverify` })));
}

describe('verify server answering', () => {
  let server, fake;
  before(async () => {
    fake = await fakeVerifier();
    server = await startServer({ env: { RECAPTCHA_SECRET: SECRET, RECAPTCHA_VERIFY_URL: fake.url } });
  });
  after(async () => { await server?.stop(); fake?.srv.close(); });

  test('accepted: register and login go through; the verifier got the secret and response', async () => {
    const login = uniqueLogin('cap');
    const reg = await api(server, 'POST', '/register', { json: { login, password: 'long enough pw', g_recaptcha_response: GOOD } });
    assert.equal(reg.status, 200, reg.text);
    const call = fake.calls.at(-1);
    assert.equal(call.method, 'POST');
    assert.equal(call.form.secret, SECRET);
    assert.equal(call.form.response, GOOD);
    const res = await api(server, 'POST', '/login', { json: { username: login, password: 'long enough pw', g_recaptcha_response: GOOD } });
    assert.equal(res.status, 200, res.text);
  });

  test('rejected or missing: 400 {"detail":"reCAPTCHA failed"} on /register, /login and /token', async () => {
    const login = uniqueLogin('cap');
    for (const [path, json] of [
      ['/register', { login, password: 'long enough pw', g_recaptcha_response: 'forged' }],
      ['/register', { login, password: 'long enough pw' }],
      ['/login', { username: login, password: 'long enough pw', g_recaptcha_response: 'forged' }],
      ['/token', { username: login, password: 'long enough pw', g_recaptcha_response: '' }],
    ]) {
      const res = await api(server, 'POST', path, { json });
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.deepEqual(res.body, { detail: 'reCAPTCHA failed' });
    }
    // The rejected registration created nothing.
    const reg = await api(server, 'POST', '/register', { json: { login, password: 'long enough pw', g_recaptcha_response: GOOD } });
    assert.equal(reg.status, 200, reg.text);
  });

  test('checked before the credentials: a wrong password with a bad captcha is 400, not 401', async () => {
    const res = await api(server, 'POST', '/login', { json: { username: uniqueLogin(), password: 'x'.repeat(10), g_recaptcha_response: 'forged' } });
    assert.equal(res.status, 400);
  });
});

test('verify server unreachable: 503, never a bypass', async () => {
  const closedPort = await freePort();
  const server = await startServer({ env: { RECAPTCHA_SECRET: SECRET, RECAPTCHA_VERIFY_URL: `http://127.0.0.1:${closedPort}/siteverify` } });
  try {
    const res = await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'long enough pw', g_recaptcha_response: GOOD } });
    assert.equal(res.status, 503, res.text);
    assert.equal(typeof res.body.detail, 'string');
    const login = await api(server, 'POST', '/login', { json: { username: 'someone', password: 'long enough pw', g_recaptcha_response: GOOD } });
    assert.equal(login.status, 503, login.text);
  } finally {
    await server.stop();
  }
});

test('without a secret the check is off and the field optional', async () => {
  const server = await startServer();
  try {
    const u = await registerUser(server);
    const res = await api(server, 'POST', '/login', { json: { username: u.login, password: u.password } });
    assert.equal(res.status, 200, res.text);
  } finally {
    await server.stop();
  }
});
