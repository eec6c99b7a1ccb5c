// Helpers for the VM end-to-end tests: servers that boot the real tiny guest under TCG, QEMU
// processes found by data folder, polling, artefacts, and making sure no VM outlives its test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { ROOT, api, runVmshare, sleep, startServer } from './server.mjs';
import { killAll, processesHoldingSocketsUnder } from './vm_processes.mjs';

const run = promisify(execFile);

// The catalog scripts/test.sh exports; by hand, the one scripts/build-tiny-image.sh wrote.
export const IMAGES = process.env.VMSHARE_TEST_IMAGES || path.join(ROOT, 'var/images/catalog.json');
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts');

// /dev/kvm is unusable or slow on the test hosts, so always TCG unless the caller insists.
export function startVmServer({ env = {}, ...opts } = {}) {
  if (!existsSync(IMAGES)) throw new Error(`no image catalog at ${IMAGES}: run scripts/build-tiny-image.sh var/images`);
  return startServer({ ...opts, env: { VMSHARE_ACCEL: process.env.VMSHARE_ACCEL || 'tcg', VMSHARE_IMAGES: IMAGES, ...env } });
}

// PIDs of QEMU processes holding a socket under `dir` (a data folder or one VM's folder): the
// monitor socket vmshare bound there and passed on (lib/vm_processes.mjs).
export async function qemuPids(dir) {
  return (await processesHoldingSocketsUnder(dir, 'qemu-system')).map((p) => p.pid);
}

export async function killQemus(dir) {
  for (const pid of await qemuPids(dir)) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
}


// Stops the servers and leaves no VM behind. A running server first sees its VMs' processes (real
// or fake QEMU) die, so it removes their sessions from the (possibly shared) session store; then
// it is stopped, which ends anything left of its VMs before the folder and storage go
// (lib/server.mjs). For after() hooks; safe on undefined.
export async function stopServers(...servers) {
  const live = servers.filter(Boolean);
  const running = (s) => s.proc.exitCode === null && s.proc.signalCode === null;
  for (const s of live.filter((x) => !running(x) && !x.killedOnPurpose)) {
    // It died under the test: keep its log for the post-mortem.
    const file = saveArtifact(`vmshare-died-${path.basename(s.dataDir)}.log`, s.logs());
    console.error(`vmshare on port ${s.port} exited during the test (${s.proc.exitCode ?? s.proc.signalCode}); log: ${file}`);
  }
  for (const s of live.filter(running)) {
    killAll(await s.vmProcesses());
    const deadline = Date.now() + 5000;
    while (vmFolders(s).length && Date.now() < deadline) await sleep(100);
  }
  for (const s of live) await s.stop();
}

// Polls fn() until it returns a truthy value; fails with `what` and the last value otherwise.
export async function waitFor(what, fn, timeoutMs = 30000, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export const runScript = (server, user, os_type = 'tiny') => api(server, 'POST', '/run-script', { token: user.token, json: { os_type } });
export const vmStatus = (server, user) => api(server, 'GET', '/vm/status', { token: user.token });
export const consoleUrl = (server, vmid) => `ws://127.0.0.1:${server.port}/ws/${vmid}`;

// Launches a VM for `user` and checks the documented response shape; resolves the vmid.
export async function launch(server, user) {
  const res = await runScript(server, user);
  assert.equal(res.status, 200, res.text);
  return res.body.vm.vmid;
}

// A fetchPng for waitForScreenText: the server's QMP screendump.
export const screenshotOf = (server, user) => async () => {
  const res = await api(server, 'GET', '/vm/screenshot', { token: user.token, timeoutMs: 30000 });
  if (res.status !== 200) throw new Error(`screenshot: ${res.status} ${res.text}`);
  return res.raw;
};

export function saveArtifact(name, data) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  writeFileSync(file, data);
  return file;
}

// Sessions of `user` naming `vmid`. Production storage shares one Redis between test servers
// whose fresh databases all start user ids at 1, so other servers' sessions may show up too:
// only the embedded store can be asked to be exactly empty.
export async function sessionsFor(server, user) {
  const res = await api(server, 'GET', '/sessions/active?limit=1000', { token: user.token });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

// The session list holds exactly the vmids `expected` (embedded storage), or at least those and
// none of `absent` (production storage, see sessionsFor).
export function assertSessionVmids(server, sessions, expected, absent = []) {
  const vmids = sessions.map((x) => x.vmid);
  if (server.storage === 'embedded') assert.deepEqual(vmids.sort(), [...expected].sort());
  for (const v of expected) assert.ok(vmids.includes(v), `session ${v} listed: ${vmids}`);
  for (const v of absent) assert.ok(!vmids.includes(v), `session ${v} not listed: ${vmids}`);
}

// Everything a VM leaves behind is gone: /vm/status 404, no QEMU, no folder, no session.
export async function assertVmGone(server, user, vmid, timeoutMs = 15000) {
  let left = '';
  await waitFor(`VM ${vmid} gone`, async () => {
    const status = await vmStatus(server, user);
    if (status.status !== 404) { left = `/vm/status ${status.status} ${status.text}`; return false; }
    if ((await qemuPids(path.join(server.dataDir, 'vms', vmid))).length) { left = 'QEMU still runs'; return false; }
    if (existsSync(path.join(server.dataDir, 'vms', vmid))) { left = 'the VM folder is still there'; return false; }
    const sessions = await sessionsFor(server, user);
    const stale = server.storage === 'embedded' ? sessions : sessions.filter((x) => x.vmid === vmid);
    if (stale.length) { left = `sessions ${JSON.stringify(stale)}`; return false; }
    return true;
  }, timeoutMs).catch((e) => { e.message += ` (left: ${left})`; throw e; });
  assert.deepEqual(await qemuPids(server.dataDir), [], 'no QEMU left in the data folder');
}

// The VM folders present in the data dir.
export const vmFolders = (server) => {
  const dir = path.join(server.dataDir, 'vms');
  return existsSync(dir) ? readdirSync(dir) : [];
};

// An admin account in the server's storage, made with the admin command line.
export async function createAdmin(server, login, password) {
  const res = await runVmshare(['user', 'create', login, '--admin'], { env: server.env, input: `${password}\n` });
  if (res.code !== 0) throw new Error(`user create --admin: ${res.code} ${res.stdout}${res.stderr}`);
  const loggedIn = await api(server, 'POST', '/login', { json: { username: login, password, g_recaptcha_response: '' } });
  if (loggedIn.status !== 200) throw new Error(`admin login: ${loggedIn.status} ${loggedIn.text}`);
  return { id: loggedIn.body.id, login, password, token: loggedIn.body.access_token };
}
