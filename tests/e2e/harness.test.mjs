// The harness itself (lib/server.mjs): VMs outlive vmshare by design, so a server's stop() must
// end its VMs' processes (fake or real QEMU), else they pile up across test files; and stopping
// one server must never touch another's (test files run side by side on one host).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { registerUser } from './lib/server.mjs';
import { runScript, waitFor } from './lib/vm_helpers.mjs';

// Gone, or a zombie waiting for init to reap it.
function ended(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)[0] === 'Z';
  } catch {
    return true;
  }
}

let servers = [];
after(async () => { for (const s of servers) await s.stop(); });

test('stop() ends the fake QEMUs of its server and of no other; stop({keepData}) leaves them', async () => {
  servers = await Promise.all([startFakeVmServer(), startFakeVmServer()]);
  const [a, b] = servers;
  for (const s of servers) {
    const res = await runScript(s, await registerUser(s), 'fake');
    assert.equal(res.status, 200, res.text);
  }
  const [ofA] = await a.vmProcesses();
  const [ofB] = await b.vmProcesses();
  assert.ok(ofA && ofB && ofA.pid !== ofB.pid, 'each server runs a fake QEMU of its own');

  await a.stop();
  await waitFor("server A's fake QEMU ended", () => ended(ofA.pid), 5000, 50);
  assert.ok(!ended(ofB.pid), "server B's fake QEMU still runs");

  await b.stop({ keepData: true });
  assert.ok(!ended(ofB.pid), 'kept for a server restarted on the same folder');
  await b.stop();
  await waitFor("server B's fake QEMU ended", () => ended(ofB.pid), 5000, 50);
});
