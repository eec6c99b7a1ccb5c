// PostgreSQL and Redis going away mid-run (production storage only): requests that need them
// get 503, the server keeps serving the rest, and it recovers by itself once they are back.
import assert from 'node:assert/strict';
import { exec } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { STORAGE, api, registerUser, sleep, startServer } from './lib/server.mjs';

const sh = promisify(exec);
const production = STORAGE === 'production';
const skip = production ? false : 'needs PostgreSQL and Redis: runs with VMSHARE_E2E_STORAGE=production';

// In production mode a missing command is a broken setup: fail, do not skip.
function command(name) {
  const cmd = process.env[name];
  if (!cmd) throw new Error(`${name} is not set (source scripts/services.sh && services_start)`);
  return cmd;
}

async function waitFor(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last.ok) return last;
    await sleep(250);
  }
  assert.fail(`${what} did not happen within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

describe('service outages', () => {
  let server, user;
  before(async () => {
    if (!production) return;
    server = await startServer();
    user = await registerUser(server);
  });
  after(async () => { await server?.stop(); });

  const me = () => api(server, 'GET', '/me', { cookie: user.cookie, timeoutMs: 20000 });
  const login = (password = user.password) => api(server, 'POST', '/login', { json: { username: user.login, password }, timeoutMs: 20000 });

  async function duringOutage(stopVar, startVar) {
    const stop = command(stopVar), start = command(startVar);
    assert.equal((await me()).status, 200, 'healthy before the outage');
    await sh(stop, { timeout: 60000 });
    try {
      const res = await me();
      assert.equal(res.status, 503, res.text);
      assert.equal(typeof res.body.detail, 'string');
      assert.doesNotMatch(res.text, /postgresql:\/\/|redis:\/\/|password/i);
      for (let i = 0; i < 6; i++) assert.equal((await login()).status, 503, 'login needs the store');
      // The process is alive and still serves what needs neither store.
      assert.equal((await api(server, 'GET', '/index.html')).status, 200);
      assert.equal(server.proc.exitCode, null);
    } finally {
      await sh(start, { timeout: 60000 });
    }
    await waitFor('/me 200 after the restart', async () => ({ ok: (await me()).status === 200 }));
    // The 503s during the outage were not counted as failed logins.
    const res = await login();
    assert.equal(res.status, 200, res.text);
    assert.equal((await registerUser(server)).id > user.id, true);
  }

  test('PostgreSQL stopped: 503, then recovers by itself', { skip }, async () => {
    await duringOutage('VMSHARE_TEST_PG_STOP_CMD', 'VMSHARE_TEST_PG_START_CMD');
  });

  test('Redis stopped: 503, then recovers by itself; revocations survive', { skip }, async () => {
    const revoked = await registerUser(server);
    assert.equal((await api(server, 'POST', '/logout', { token: revoked.token })).status, 200);
    await duringOutage('VMSHARE_TEST_REDIS_STOP_CMD', 'VMSHARE_TEST_REDIS_START_CMD');
    assert.equal((await api(server, 'GET', '/me', { token: revoked.token })).status, 401);
  });
});
