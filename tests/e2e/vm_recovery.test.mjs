// Crashes with real QEMU: a QEMU killed with SIGKILL is noticed and cleaned at once; a vmshare
// killed with SIGKILL adopts its running VMs on restart, and cleans up the ones that died meanwhile.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { RfbClient } from './lib/rfb_client.mjs';
import { api, registerUser } from './lib/server.mjs';
import {
  assertSessionVmids, assertVmGone, consoleUrl, launch, qemuPids, sessionsFor, startVmServer, stopServers,
  vmFolders, vmStatus, waitFor,
} from './lib/vm_helpers.mjs';

const servers = [];
after(async () => { await stopServers(...servers.reverse()); });

async function server(opts) {
  const s = await startVmServer(opts);
  servers.push(s);
  return s;
}

// The same data folder, storage and port: what a supervisor restarting vmshare would do.
const restart = (crashed) => server({ dataDir: crashed.dataDir, env: crashed.env });

async function killServer(s) {
  s.killedOnPurpose = true;
  s.proc.kill('SIGKILL');
  await s.exited;
}

test('kill -9 of QEMU: within seconds /vm/status 404, no process, folder or session', async () => {
  const s = await server();
  const user = await registerUser(s);
  const vmid = await launch(s, user);
  const [pid] = await qemuPids(path.join(s.dataDir, 'vms', vmid));
  assert.ok(pid, 'QEMU runs');
  process.kill(pid, 'SIGKILL');
  await assertVmGone(s, user, vmid, 5000);
  // The user can start again right away.
  const next = await launch(s, user);
  assert.notEqual(next, vmid);
  await api(s, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 });
  await assertVmGone(s, user, next, 30000);
});

test('kill -9 of vmshare: the restarted server adopts the running VM and its console works', async () => {
  const first = await server();
  const user = await registerUser(first);
  const vmid = await launch(first, user);
  const [pid] = await qemuPids(first.dataDir);
  await killServer(first);
  assert.deepEqual(await qemuPids(first.dataDir), [pid], 'QEMU survives its server');

  const second = await restart(first);
  const status = await vmStatus(second, user);
  assert.equal(status.status, 200, status.text);
  assert.equal(status.body.vmid, vmid);
  assert.deepEqual(await qemuPids(second.dataDir), [pid], 'the same QEMU, not a new one');
  assertSessionVmids(second, await sessionsFor(second, user), [vmid]);
  const again = await api(second, 'POST', '/run-script', { token: user.token, json: { os_type: 'tiny' } });
  assert.equal(again.body.vm.vmid, vmid, '/run-script returns the adopted VM');

  const rfb = await RfbClient.connect(consoleUrl(second, vmid), { cookie: user.cookie, origin: second.url });
  try {
    await rfb.waitForUpdate(30000, () => rfb.nonBlackPixels() > 0);
  } finally {
    rfb.close();
  }
  // Adopted VMs are fully managed: stopping one cleans it up.
  const stop = await api(second, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 });
  assert.equal(stop.status, 200, stop.text);
  await assertVmGone(second, user, vmid, 30000);
});

test('kill -9 of vmshare, then of QEMU while it is down: the restart leaves no orphan', async () => {
  const first = await server();
  const user = await registerUser(first);
  const vmid = await launch(first, user);
  await killServer(first);
  for (const pid of await qemuPids(first.dataDir)) process.kill(pid, 'SIGKILL');
  await waitFor('QEMU gone', async () => (await qemuPids(first.dataDir)).length === 0, 5000);
  assert.ok(existsSync(path.join(first.dataDir, 'vms', vmid)), 'the dead VM left its folder behind');

  const second = await restart(first);
  assert.deepEqual(vmFolders(second), [], 'start-up removed the dead VM folder');
  await assertVmGone(second, user, vmid, 5000);
  assertSessionVmids(second, await sessionsFor(second, user), [], [vmid]);
});
