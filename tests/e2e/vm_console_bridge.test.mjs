// The console data path against the fake QEMU (bench/fake_rfb_qemu): per-viewer figures
// (GET /vm/console_stats), view-only viewers whose input never reaches the VM while a control
// viewer's does, and a malformed client stream closing only that viewer. One server for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { api, registerUser } from './lib/server.mjs';
import { consoleUrl, runScript, stopServers, waitFor } from './lib/vm_helpers.mjs';

describe('console bridge with the fake QEMU', () => {
  let server, owner, other, vmid;
  const open = (user = owner, opts = {}) =>
    RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url, ...opts });
  const stats = (user = owner, query = '') => api(server, 'GET', `/vm/console_stats${query}`, { token: user.token });

  before(async () => {
    server = await startFakeVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } });
    [owner, other] = await Promise.all([registerUser(server), registerUser(server)]);
    const res = await runScript(server, owner, 'fake');
    assert.equal(res.status, 200, res.text);
    vmid = res.body.vm.vmid;
  });
  after(async () => {
    await stopServers(server);
  });

  test('GET /vm/console_stats lists each open viewer with its frames, bytes, fps and mode', async () => {
    const rfb = await open();
    try {
      await rfb.waitForUpdate(15000);
      await rfb.waitForUpdate(15000);
      const res = await waitFor('a viewer with frames', async () => {
        const r = await stats();
        return r.status === 200 && r.body.viewers.some((v) => v.bytes >= 2 * 1152016) ? r : null;
      }, 15000);
      assert.equal(res.body.vmid, vmid);
      const [v] = res.body.viewers;
      assert.equal(res.body.viewers.length, 1, res.text);
      assert.equal(v.mode, 'control');
      assert.equal(v.mine, true);
      assert.equal(v.label, 'owner');
      assert.equal(v.address, '127.0.0.1');
      assert.equal(typeof v.fps, 'number');
      assert.ok(Math.abs(v.since - Date.now() / 1000) < 60, res.text);
      for (const k of ['id', 'latency_ms', 'latency_p50_ms', 'bps']) assert.ok(k in v, k);
    } finally {
      rfb.close();
    }
    await waitFor('the viewer gone from the list', async () => (await stats()).body.viewers.length === 0, 10000);
  });

  test('/vm/console_stats: no credentials 401, another user\'s VM 403, no VM 404', async () => {
    assert.equal((await api(server, 'GET', '/vm/console_stats')).status, 401);
    assert.equal((await stats(other, `?vmid=${vmid}`)).status, 403);
    assert.equal((await stats(other)).status, 404);
    assert.equal((await stats(owner, '?vmid=nosuchvm')).status, 404);
  });
});
