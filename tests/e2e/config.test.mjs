// Start-up configuration (environment, --config FILE) and the admin command line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { api, cookieFrom, freePort, prepareEnv, runVmshare, startServer, uniqueLogin } from './lib/server.mjs';

let tmp;
before(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'vmshare-e2e-config-')); });
after(() => rmSync(tmp, { recursive: true, force: true }));

// Start-up must fail fast: a server that starts would hang until the harness timeout.
async function startupFails(env, args = []) {
  const prepared = await prepareEnv({ storage: 'embedded', env: { PORT: String(await freePort()), ...env } });
  try {
    return await runVmshare(args, { env: prepared.env, timeoutMs: 10000 });
  } finally {
    rmSync(prepared.dataDir, { recursive: true, force: true });
  }
}

describe('bad configuration stops start-up naming the key', () => {
  test('PORT=abc', async () => {
    const r = await startupFails({ PORT: 'abc' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PORT/);
  });

  test('unknown VMSHARE_FOO', async () => {
    const r = await startupFails({ VMSHARE_FOO: '1' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /VMSHARE_FOO/);
  });

  test('COOKIE_SECURE=maybe, BCRYPT_COST=99, VMSHARE_TRUSTED_PROXIES=<a host name>', async () => {
    for (const [key, value] of [['COOKIE_SECURE', 'maybe'], ['BCRYPT_COST', '99'], ['VMSHARE_TRUSTED_PROXIES', '127.0.0.1,nginx.local']]) {
      const r = await startupFails({ [key]: value });
      assert.notEqual(r.code, 0, key);
      assert.match(r.stderr, new RegExp(key));
    }
  });

  test('unknown key in a --config file', async () => {
    const file = path.join(tmp, 'bad.conf');
    writeFileSync(file, 'PORT=8123\nCOOKIE_SECURE=false\nNOT_A_KEY=1\n');
    const r = await startupFails({}, ['--config', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NOT_A_KEY/);
  });

  test('error output holds no secrets: a bad DATABASE_URL is not echoed', async () => {
    const r = await startupFails({ DATABASE_URL: 'mysql://root:hunter2secret@db/x' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /DATABASE_URL/);
    assert.doesNotMatch(r.stderr, /hunter2secret/);
  });
});

test('--config FILE sets the port and the token lifetime', async () => {
  const port = await freePort();
  const file = path.join(tmp, 'good.conf');
  writeFileSync(file, `# comment lines are fine\nPORT=${port}\nACCESS_TOKEN_EXPIRE_MINUTES=7\n`);
  const server = await startServer({ port, args: ['--config', file], env: { PORT: undefined } });
  try {
    assert.equal(server.url, `http://127.0.0.1:${port}`);
    const res = await api(server, 'POST', '/register', { json: { login: uniqueLogin(), password: 'long enough pw' } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['set-cookie'].join(), /Max-Age=420/);
  } finally {
    await server.stop();
  }
});

test('--help lists the configuration keys; --version prints the version', async () => {
  const help = await runVmshare(['--help']);
  assert.equal(help.code, 0);
  for (const key of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'SECRET_KEY', 'COOKIE_SECURE', 'RECAPTCHA_VERIFY_URL', 'VMSHARE_TRUSTED_PROXIES'])
    assert.match(help.stdout, new RegExp(`\\b${key}\\b`));
  const version = await runVmshare(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /vmshare \d+\.\d+/);
});

describe('admin command line against a running server', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });
  const cli = (args, input) => runVmshare(args, { env: server.env, input });
  const loginAs = async (login, password) => {
    const res = await api(server, 'POST', '/login', { json: { username: login, password } });
    assert.equal(res.status, 200, res.text);
    return cookieFrom(res);
  };
  const roleOf = async (cookie) => (await api(server, 'GET', '/me', { cookie })).body.role;

  test('user create --admin (password on stdin), set-role, set-quota', async () => {
    const login = uniqueLogin('admin');
    const password = 'an admin password';
    const created = await cli(['user', 'create', login, '--admin'], `${password}\n`);
    assert.equal(created.code, 0, created.stderr);
    const cookie = await loginAs(login, password);
    assert.equal(await roleOf(cookie), 'admin');

    assert.equal((await cli(['user', 'set-role', login, 'user'])).code, 0);
    assert.equal(await roleOf(cookie), 'user', 'the role is read per request, not from the token');
    assert.equal((await cli(['user', 'set-role', login, 'admin'])).code, 0);
    assert.equal(await roleOf(cookie), 'admin');

    const quota = await cli(['user', 'set-quota', login, '1024']);
    assert.equal(quota.code, 0, quota.stderr);
    assert.match(quota.stdout, /1024/);
  });

  test('user create without --admin gives a plain user', async () => {
    const login = uniqueLogin('plain');
    assert.equal((await cli(['user', 'create', login], 'plain password\n')).code, 0);
    assert.equal(await roleOf(await loginAs(login, 'plain password')), 'user');
  });

  test('errors: existing login, short password, unknown user, bad role', async () => {
    const login = uniqueLogin('dup');
    assert.equal((await cli(['user', 'create', login], 'first password\n')).code, 0);
    assert.notEqual((await cli(['user', 'create', login], 'second password\n')).code, 0);
    assert.notEqual((await cli(['user', 'create', uniqueLogin()], 'short\n')).code, 0);
    assert.notEqual((await cli(['user', 'set-role', uniqueLogin('nobody'), 'admin'])).code, 0);
    assert.notEqual((await cli(['user', 'set-quota', uniqueLogin('nobody'), '10'])).code, 0);
    assert.notEqual((await cli(['user', 'set-role', login, 'root'])).code, 0);
    assert.equal(await roleOf(await loginAs(login, 'first password')), 'user');
  });
});
