// PostgreSQL and Redis restarted under load (issue 7 item 4, production storage only): while
// several users sign up, sign in, read /me, launch and stop VMs and open consoles (on fake QEMU,
// bench/fake_rfb_qemu), PostgreSQL is stopped and started, then Redis, then both at once.
// Every request gets a clear answer (a success, or 503 with a JSON detail; never a 500, a hang
// or a dropped connection); every sign-up that was answered 200 can sign in afterwards and none
// answered 503 exists; and once the stores are back no VM is stuck: each user's VM (from
// /vm/status and /user_info) has its process and folder, this node's sessions in Redis are
// exactly its running VMs, every user can stop and launch again, and with every VM stopped no
// process, folder or session is left.
import assert from 'node:assert/strict';
import { exec } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

import { fakeProcs, startFakeVmServer } from './lib/fake_qemu.mjs';
import { STORAGE, api, randomSuffix, registerUser, sleep, uniqueLogin } from './lib/server.mjs';
import { createAdmin, saveArtifact, waitFor } from './lib/vm_helpers.mjs';

const sh = promisify(exec);
const production = STORAGE === 'production';
const skip = production ? false : 'needs PostgreSQL and Redis: runs with VMSHARE_E2E_STORAGE=production';

const USERS = 4;          // users cycling through VM and account operations
const SIGNUP_WORKERS = 2; // loops that keep registering new accounts
const OUTAGE_MS = 4000;   // how long each store stays down
// Longer than any answer the server gives during an outage (its store timeouts are a few
// seconds): a request still unanswered by then is a hang.
const HANG_MS = 20000;

function command(name) {
  const cmd = process.env[name];
  if (!cmd) throw new Error(`${name} is not set (source scripts/services.sh && services_start)`);
  return cmd;
}

let server;
const consoles = new Set();
after(async () => {
  for (const c of consoles) c.destroy();
  if (!server) return;
  // Whatever happened, bring the stores back for the next test file, and leave no VM behind.
  if (production) {
    await sh(command('VMSHARE_TEST_PG_START_CMD'), { timeout: 60000 }).catch(() => {});
    await sh(command('VMSHARE_TEST_REDIS_START_CMD'), { timeout: 60000 }).catch(() => {});
  }
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

// A console viewer: the WebSocket upgrade with the owner's bearer token, kept open.
// Resolves {status, head} and the socket on 101; a refusal once the server has closed the
// connection (its whole answer read), with the body; {status: 0, error} when there was no answer.
function openConsole(user, vmid) {
  return new Promise((resolve) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ status: 0, error: 'no answer', head: text }); }, HANG_MS);
    const answer = () => {
      const end = text.indexOf('\r\n\r\n');
      return end < 0 ? null : { status: Number(text.split(' ')[1]), head: text.slice(0, end), body: text.slice(end + 4) };
    };
    sock.on('error', () => {});  // 'close' follows and settles it
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(answer() ?? { status: 0, error: 'closed before an answer', head: text });
    });
    sock.on('data', (d) => {
      text += d.toString('latin1');
      const a = answer();
      if (a?.status !== 101) return;  // a refusal: read it to the end
      clearTimeout(timer);
      sock.removeAllListeners('close');
      sock.removeAllListeners('data');
      resolve({ ...a, sock });
    });
    sock.write(`GET /ws/${vmid} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: ${server.url}\r\n` +
      `Authorization: Bearer ${user.token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  });
}

const rand = (n) => Math.floor(Math.random() * n);

test('PostgreSQL and Redis restarted under load: no lost user, no stuck VM', { skip, timeout: 180000 }, async (t) => {
  try {
    await restartUnderLoad(t);
  } catch (e) {
    if (server) e.message += `\nserver log: ${saveArtifact(`restart-under-load-${server.port}.log`, server.logs())}`;
    throw e;
  }
});

async function restartUnderLoad(t) {
  // A short grace, so VMs nobody watches end by themselves, in the middle of the outages too.
  server = await startFakeVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '3', VMSHARE_MAX_VMS: '32' } });
  const node = readFileSync(path.join(server.dataDir, 'node_id'), 'utf8').trim();
  const admin = await createAdmin(server, uniqueLogin('admin'), `admin-${randomSuffix(8)}`);
  const users = [];
  for (let i = 0; i < USERS; i++) users.push(await registerUser(server));

  const problems = [];  // what a user would have seen go wrong
  const tally = {};     // "phase route status" -> count
  let phase = 'warm-up';
  const count = (key) => { tally[`${phase} ${key}`] = (tally[`${phase} ${key}`] ?? 0) + 1; };
  const problem = (what) => { if (problems.length < 50) problems.push(`[${phase}] ${what}`); };

  // One request of the load. `ok` lists the statuses that are a correct answer besides 503;
  // resolves the response, or null when there was none.
  async function call(label, method, route, opts, ok) {
    let res;
    try {
      res = await api(server, method, route, { ...opts, timeoutMs: HANG_MS });
    } catch (e) {
      count(`${label} no-answer`);
      problem(`${label}: no answer (${e.message})`);
      return null;
    }
    count(`${label} ${res.status}`);
    if (res.status === 503) {
      if (typeof res.body?.detail !== 'string') problem(`${label}: 503 without a JSON detail: ${res.text}`);
      if (/postgres(ql)?:\/\/|redis:\/\/|password/i.test(res.text)) problem(`${label}: 503 names a store: ${res.text}`);
    } else if (!ok.includes(res.status)) {
      problem(`${label}: ${res.status} ${res.text}`);
    }
    return res;
  }

  const userOps = {
    async me(u) { await call('GET /me', 'GET', '/me', { token: u.token }, [200]); },
    async login(u) {
      const res = await call('POST /login', 'POST', '/login', { json: { username: u.login, password: u.password } }, [200]);
      if (res?.status === 200) u.token = res.body.access_token;
    },
    async status(u) { await call('GET /vm/status', 'GET', '/vm/status', { token: u.token }, [200, 404]); },
    async userInfo(u) { await call('GET /user_info', 'GET', '/user_info', { token: u.token }, [200]); },
    async launch(u) { await call('POST /run-script', 'POST', '/run-script', { token: u.token, json: { os_type: 'fake' } }, [200]); },
    // 404: the VM ended by itself meanwhile; 409: it is already stopping.
    async stop(u) { await call('POST /vm/stop', 'POST', '/vm/stop', { token: u.token, json: {} }, [200, 404, 409]); },
    async consoleOpen(u) {
      const st = await api(server, 'GET', '/vm/status', { token: u.token, timeoutMs: HANG_MS }).catch(() => null);
      if (st?.status !== 200) return;
      const c = await openConsole(u, st.body.vmid);
      count(`console ${c.status}`);
      if (c.status === 0) problem(`console: ${c.error} ${c.head}`);
      // 404: the VM ended between the two requests. 429: the VM's or the user's console cap
      // (CONSOLE_VIEWERS_PER_VM 4): the load opens consoles faster than their viewers leave.
      else if (![101, 404, 429, 503].includes(c.status)) problem(`console: ${c.head}`);
      else if ([429, 503].includes(c.status) && !/"detail"/.test(c.body)) problem(`console: ${c.status} without a JSON detail: ${c.head}\r\n\r\n${c.body}`);
      if (c.sock) {
        consoles.add(c.sock);
        c.sock.on('close', () => consoles.delete(c.sock));
        // The viewer leaves after a while; the VM then has the grace period to live.
        setTimeout(() => c.sock.destroy(), 500 + rand(4000));
      }
    },
  };
  const weighted = [['me', 3], ['login', 2], ['status', 2], ['userInfo', 1], ['launch', 3], ['stop', 2], ['consoleOpen', 1]]
    .flatMap(([name, w]) => Array(w).fill(name));

  const signedUp = [];  // answered 200: must exist afterwards
  const refused = [];   // answered 503: must not exist afterwards
  async function signUpOnce() {
    const login = uniqueLogin('load');
    const password = `pw-${randomSuffix(8)}`;
    const res = await call('POST /register', 'POST', '/register', { json: { login, password } }, [200]);
    if (res?.status === 200) signedUp.push({ login, password, id: res.body.id });
    else if (res?.status === 503) refused.push({ login, password });
    // A new user goes on to use the account at once, as the sign-up page does.
    if (res?.status === 200) await call('GET /me', 'GET', '/me', { token: res.body.access_token }, [200]);
  }

  let loadRunning = true;
  const workers = [
    ...users.map(async (u) => {
      while (loadRunning) {
        await userOps[weighted[rand(weighted.length)]](u);
        await sleep(20 + rand(80));
      }
    }),
    ...Array.from({ length: SIGNUP_WORKERS }, async () => {
      while (loadRunning) {
        await signUpOnce();
        await sleep(50 + rand(100));
      }
    }),
  ];

  const probe = users[0];
  async function outage(name, stopVars, startVars) {
    phase = `${name} down`;
    await Promise.all(stopVars.map((v) => sh(command(v), { timeout: 60000 })));
    await sleep(OUTAGE_MS);
    phase = `${name} back`;
    await Promise.all(startVars.map((v) => sh(command(v), { timeout: 60000 })));
    await waitFor(`/me answers 200 after ${name} came back`, async () =>
      (await api(server, 'GET', '/me', { token: probe.token, timeoutMs: HANG_MS })).status === 200, 30000);
    phase = `after ${name}`;
    await sleep(3000);  // the load goes on against the recovered stores
  }

  const t0 = Date.now();
  try {
    await sleep(3000);
    await outage('PostgreSQL', ['VMSHARE_TEST_PG_STOP_CMD'], ['VMSHARE_TEST_PG_START_CMD']);
    await outage('Redis', ['VMSHARE_TEST_REDIS_STOP_CMD'], ['VMSHARE_TEST_REDIS_START_CMD']);
    await outage('both', ['VMSHARE_TEST_PG_STOP_CMD', 'VMSHARE_TEST_REDIS_STOP_CMD'],
      ['VMSHARE_TEST_PG_START_CMD', 'VMSHARE_TEST_REDIS_START_CMD']);
  } finally {
    loadRunning = false;
    await Promise.all(workers);
  }
  phase = 'checks';
  t.diagnostic(`load for ${Math.round((Date.now() - t0) / 1000)} s: ${signedUp.length} sign-ups answered 200, ` +
    `${refused.length} answered 503; ${JSON.stringify(tally)}`);

  assert.deepEqual(problems, [], 'every request got a success or a 503 with a JSON detail');
  assert.equal(server.proc.exitCode, null, 'vmshare is still running');
  // Each outage was felt: the load got 503s while the store was down (else the test proved nothing).
  for (const name of ['PostgreSQL', 'Redis', 'both']) {
    const unavailable = Object.entries(tally).filter(([k]) => k.startsWith(`${name} down `) && k.endsWith(' 503'));
    assert.ok(unavailable.length > 0, `requests got 503 while ${name} was down: ${JSON.stringify(tally)}`);
  }
  assert.ok(signedUp.length > 0, 'some sign-ups succeeded');

  // No user lost, none invented: each sign-up answered 200 signs in; each answered 503 does not exist.
  for (const s of signedUp) {
    const res = await api(server, 'POST', '/login', { json: { username: s.login, password: s.password } });
    assert.equal(res.status, 200, `${s.login} was told "registered" and must sign in: ${res.text}`);
    assert.equal(res.body.id, s.id, `${s.login} keeps the id it was given`);
  }
  for (const s of refused) {
    const res = await api(server, 'POST', '/login', { json: { username: s.login, password: s.password } });
    assert.equal(res.status, 401, `${s.login} was told its sign-up failed, so it must not exist: ${res.status} ${res.text}`);
  }

  // The VM state users see, the processes, the folders and the session store agree.
  const vmFolders = () => {
    const dir = path.join(server.dataDir, 'vms');
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  };
  // The session store is shared with every other test server (and user ids repeat between
  // their databases): judge this node's sessions only.
  const allSessions = async () => {
    const res = await api(server, 'GET', '/sessions/active?limit=1000', { token: admin.token });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const ourSessions = async () => (await allSessions()).filter((s) => s.node === node);
  // Resolves '' when consistent, else what is not (VMs may be ending by themselves meanwhile).
  async function inconsistency() {
    const running = new Map();  // vmid -> user id
    const foreign = new Set((await allSessions()).filter((s) => s.node !== node).map((s) => s.vmid));
    for (const u of users) {
      const st = await api(server, 'GET', '/vm/status', { token: u.token });
      const info = await api(server, 'GET', '/user_info', { token: u.token });
      if (st.status !== 200 && st.status !== 404) return `user ${u.id}: /vm/status ${st.status} ${st.text}`;
      if (info.status !== 200) return `user ${u.id}: /user_info ${info.status} ${info.text}`;
      const vmid = st.status === 200 ? st.body.vmid : null;
      // /user_info reads the shared store: another test server's user with the same id may show.
      if (info.body.vmid !== vmid && !foreign.has(info.body.vmid))
        return `user ${u.id}: /user_info names ${info.body.vmid}, /vm/status ${vmid}`;
      if (vmid) {
        if (st.body.status !== 'running') return `user ${u.id}: VM ${vmid} is ${st.body.status}`;
        running.set(vmid, u.id);
      }
    }
    const folders = vmFolders();
    const procs = await fakeProcs(server.dataDir);
    const sessions = await ourSessions();
    const want = [...running.keys()].sort();
    if (JSON.stringify(folders) !== JSON.stringify(want)) return `VM folders ${folders} vs running VMs ${want}`;
    const procVmids = procs.map((p) => want.find((v) => p.args.includes(`guest=${v},`)) ?? `orphan pid ${p.pid}`).sort();
    if (JSON.stringify(procVmids) !== JSON.stringify(want)) return `QEMU processes of ${procVmids} vs running VMs ${want}`;
    const sessionVmids = sessions.map((s) => s.vmid).sort();
    if (JSON.stringify(sessionVmids) !== JSON.stringify(want)) return `this node's sessions ${JSON.stringify(sessions)} vs running VMs ${want}`;
    for (const s of sessions) {
      if (s.status !== 'running' || s.user_id !== running.get(s.vmid)) return `session ${JSON.stringify(s)} vs its VM`;
    }
    return '';
  }
  async function settle(what) {
    let last = '';
    await waitFor(what, async () => (last = await inconsistency()) === '', 20000)
      .catch((e) => { e.message += ` (last: ${last})`; throw e; });
  }
  await settle('after recovery, the VMs, their processes, folders and sessions agree');

  // Every user can stop and launch again, and the new VM is all there.
  const relaunched = [];
  for (const u of users) {
    const stop = await api(server, 'POST', '/vm/stop', { token: u.token, json: {} });
    assert.ok([200, 404].includes(stop.status), `user ${u.id}: /vm/stop ${stop.status} ${stop.text}`);
    const res = await api(server, 'POST', '/run-script', { token: u.token, json: { os_type: 'fake' } });
    assert.equal(res.status, 200, `user ${u.id}: launch after recovery: ${res.text}`);
    relaunched.push(res.body.vm.vmid);
    const c = await openConsole(u, res.body.vm.vmid);  // a viewer keeps it past the grace period
    assert.equal(c.status, 101, `user ${u.id}: console after recovery: ${c.error ?? ''} ${c.head}`);
    consoles.add(c.sock);
  }
  await settle('relaunched VMs, their processes, folders and sessions agree');
  assert.deepEqual((await ourSessions()).map((s) => s.vmid).sort(), relaunched.sort(), 'one session per relaunched VM');

  // With every VM stopped nothing is left: no process, folder or session.
  for (const u of users) {
    const res = await api(server, 'POST', '/vm/stop', { token: u.token, json: {} });
    assert.equal(res.status, 200, `user ${u.id}: final stop: ${res.text}`);
  }
  for (const c of consoles) c.destroy();
  await settle('after the final stops nothing is left');
  assert.deepEqual(vmFolders(), []);
  assert.deepEqual(await fakeProcs(server.dataDir), []);
  assert.deepEqual(await ourSessions(), []);
}
