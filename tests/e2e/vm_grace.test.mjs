// The disconnect grace with real QEMU: closing the console does not kill the VM, a viewer that
// returns within the grace keeps it, and once the grace passes with nobody watching the VM and
// all its traces are gone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { RfbClient } from './lib/rfb_client.mjs';
import { registerUser, sleep } from './lib/server.mjs';
import { assertVmGone, consoleUrl, launch, qemuPids, startVmServer, stopServers, vmStatus } from './lib/vm_helpers.mjs';

const GRACE_S = 5;

let server;
before(async () => { server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: String(GRACE_S) } }); });
after(async () => { await stopServers(server); });

test('reconnecting within the grace keeps the VM; its expiry removes process, folder and session', async () => {
  const user = await registerUser(server);
  const vmid = await launch(server, user);
  const open = () => RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });

  let rfb = await open();
  await rfb.waitForUpdate(30000);
  rfb.close();
  await rfb.whenClosed();
  await sleep(GRACE_S * 1000 * 0.4);
  rfb = await open();  // back in time
  await rfb.waitForUpdate(30000);
  // Well past the first grace with the viewer attached: the timer must have been cancelled.
  await sleep(GRACE_S * 1000 + 2000);
  const status = await vmStatus(server, user);
  assert.equal(status.status, 200, status.text);
  assert.equal(status.body.vmid, vmid);
  assert.equal(status.body.viewers, 1);
  assert.ok(!rfb.closed, 'the console stays open');
  assert.equal((await qemuPids(server.dataDir)).length, 1);

  rfb.close();
  await rfb.whenClosed();
  const closedAt = Date.now();
  await sleep(GRACE_S * 1000 * 0.5);
  assert.equal((await vmStatus(server, user)).status, 200, 'still running inside the grace');
  await assertVmGone(server, user, vmid, GRACE_S * 1000 + 15000);
  assert.ok(Date.now() - closedAt >= GRACE_S * 1000 - 500, 'not stopped before the grace ended');
});

test('a VM nobody ever opens a console for is stopped after the grace too', async () => {
  const user = await registerUser(server);
  const vmid = await launch(server, user);
  await assertVmGone(server, user, vmid, GRACE_S * 1000 + 15000);
});
