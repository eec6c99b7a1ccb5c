// Crashes with real QEMU: a QEMU killed with SIGKILL is noticed and cleaned at once; a vmshare
// killed with SIGKILL adopts its running VMs on restart, and cleans up the ones that died meanwhile.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

import { RfbClient } from './lib/rfb_client.mjs';
import { ROOT, api, registerUser } from './lib/server.mjs';
import {
  assertSessionVmids, assertVmGone, consoleUrl, launch, qemuPids, sessionsFor, startVmServer, stopServers,
  vmFolders, vmStatus, waitFor,
} from './lib/vm_helpers.mjs';

const run = promisify(execFile);
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

// deploy/vmshare.service sets ProtectProc=invisible without CAP_SYS_PTRACE. Where that hides the
// VMs' processes from vmshare (see lib/hidden_proc.sh for when it does), adoption must not depend
// on /proc: a VM that still answers is adopted, and one that does not (a QEMU stopped dead stands
// in for one that dropped its monitor) is ended, not left running while its folder and uid are
// handed to the next VM.
const HIDDEN_PROC = [path.join(ROOT, 'tests/e2e/lib/hidden_proc.sh')];
const asRoot = process.getuid() === 0 ? false : 'needs root (a mount namespace, VMs under their own uids)';

test('with the VMs hidden in /proc, kill -9 of vmshare: the restart adopts the live VM and ends the unresponsive one', { skip: asRoot }, async () => {
  const first = await server({ wrap: HIDDEN_PROC });
  const [alive, stuck] = [await registerUser(first), await registerUser(first)];
  const aliveVm = await launch(first, alive);
  const stuckVm = await launch(first, stuck);
  const [alivePid] = await qemuPids(path.join(first.dataDir, 'vms', aliveVm));
  const [stuckPid] = await qemuPids(path.join(first.dataDir, 'vms', stuckVm));
  // The condition under test holds: in vmshare's view of /proc its QEMUs do not exist.
  const view = await run(HIDDEN_PROC[0], ['sh', '-c', `test -e /proc/${alivePid} && echo visible || echo hidden`]);
  assert.equal(view.stdout.trim(), 'hidden');

  await killServer(first);
  process.kill(stuckPid, 'SIGSTOP');
  const second = await server({ dataDir: first.dataDir, env: first.env, wrap: HIDDEN_PROC });
  const status = await vmStatus(second, alive);
  assert.equal(status.status, 200, status.text);
  assert.equal(status.body.vmid, aliveVm);
  assert.deepEqual(await qemuPids(path.join(second.dataDir, 'vms', aliveVm)), [alivePid], 'the same QEMU, adopted');

  await waitFor('the unresponsive QEMU ended', async () => !existsSync(`/proc/${stuckPid}`), 10000);
  assert.equal((await vmStatus(second, stuck)).status, 404);
  assert.ok(!existsSync(path.join(second.dataDir, 'vms', stuckVm)), 'its folder is gone');
  // Its user can start again, and the adopted VM stops cleanly.
  const next = await launch(second, stuck);
  assert.notEqual(next, stuckVm);
  for (const u of [alive, stuck]) assert.equal((await api(second, 'POST', '/vm/stop', { token: u.token, timeoutMs: 60000 })).status, 200);
  await assertVmGone(second, alive, aliveVm, 30000);
});
