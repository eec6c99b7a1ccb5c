// Helpers for the VM end-to-end tests: servers that boot the real tiny guest under TCG, QEMU
// processes found by data folder, polling, artefacts, and making sure no VM outlives its test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { ROOT, api, runVmshare, sleep, startServer } from './server.mjs';

const run = promisify(execFile);

// The catalog scripts/test.sh exports; by hand, the one scripts/build-tiny-image.sh wrote.
export const IMAGES = process.env.VMSHARE_TEST_IMAGES || path.join(ROOT, 'var/images/catalog.json');
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts');

// /dev/kvm is unusable or slow on the test hosts, so always TCG unless the caller insists.
export function startVmServer({ env = {}, ...opts } = {}) {
  if (!existsSync(IMAGES)) throw new Error(`no image catalog at ${IMAGES}: run scripts/build-tiny-image.sh var/images`);
  return startServer({ ...opts, env: { VMSHARE_ACCEL: process.env.VMSHARE_ACCEL || 'tcg', VMSHARE_IMAGES: IMAGES, ...env } });
}

// PIDs of QEMU processes whose command line names `dir` (a data folder or one VM's folder).
export async function qemuPids(dir) {
  const { stdout } = await run('ps', ['-ww', '-eo', 'pid=,args=']);
  return stdout.split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(.*)$/))
    .filter((m) => m && m[2].includes('qemu-system') && m[2].includes(`${dir}/`))
    .map((m) => Number(m[1]));
}

export async function killQemus(dir) {
  for (const pid of await qemuPids(dir)) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
}

// Stops the servers (VMs survive a server stop by design), kills any QEMU left in their data
// folders, then removes the folders and storage. For after() hooks; safe on undefined.
export async function stopServers(...servers) {
  const live = servers.filter(Boolean);
  for (const s of live) await s.stop({ keepData: true });
  for (const s of live) await killQemus(s.dataDir);
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

// Everything a VM leaves behind is gone: /vm/status 404, no QEMU, no folder, no session.
export async function assertVmGone(server, user, vmid, timeoutMs = 15000) {
  await waitFor(`VM ${vmid} gone`, async () => {
    if ((await vmStatus(server, user)).status !== 404) return false;
    if ((await qemuPids(path.join(server.dataDir, 'vms', vmid))).length) return false;
    if (existsSync(path.join(server.dataDir, 'vms', vmid))) return false;
    const sessions = await api(server, 'GET', '/sessions/active', { token: user.token });
    return sessions.status === 200 && sessions.body.length === 0;
  }, timeoutMs);
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
