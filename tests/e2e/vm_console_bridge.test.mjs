// The console data path against the fake QEMU (bench/fake_rfb_qemu): per-viewer figures
// (GET /vm/console_stats), view-only viewers whose input never reaches the VM while a control
// viewer's does, and a malformed client stream closing only that viewer. One server for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { api, registerUser } from './lib/server.mjs';
import { consoleUrl, runScript, stopServers, waitFor } from './lib/vm_helpers.mjs';

const FRAME_BYTES = 1152016;  // the fake's raw 720x400 update

// Resolves the texts of the fake QEMU's reports ("key <keysym hex> down|up") this client saw.
function reports(rfb) {
  const seen = [];
  rfb.on('cut-text', (t) => seen.push(t));
  return seen;
}

describe('console bridge with the fake QEMU', () => {
  let server, owner, other, vmid;
  const open = (user = owner, opts = {}, query = '') =>
    RfbClient.connect(consoleUrl(server, vmid) + query, { cookie: user.cookie, origin: server.url, ...opts });
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
        return r.status === 200 && r.body.viewers.some((v) => v.frames >= 2) ? r : null;
      }, 15000);
      assert.equal(res.body.vmid, vmid);
      const [v] = res.body.viewers;
      assert.equal(res.body.viewers.length, 1, res.text);
      assert.equal(v.mode, 'control');
      assert.equal(v.mine, true);
      assert.equal(v.label, 'owner');
      assert.equal(v.address, '127.0.0.1');
      // A frame counts at its first bytes (console_stats.h): the newest may be partly sent.
      assert.ok(v.bytes >= (v.frames - 1) * FRAME_BYTES && v.bytes <= (v.frames + 1) * FRAME_BYTES + 4096, res.text);
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

  test('a view-only viewer\'s keys never reach the VM; a control viewer\'s do; both keep streaming', async () => {
    const control = await open();
    const viewer = await open(owner, {}, '?view_only=1');
    try {
      const seenByControl = reports(control), seenByViewer = reports(viewer);
      await Promise.all([control.waitForUpdate(15000), viewer.waitForUpdate(15000)]);
      viewer.key(0x76, true);  // 'v' from the view-only viewer: dropped by the bridge
      viewer.key(0x76, false);
      control.key(0x63, true);  // 'c' from the control viewer: "QEMU" reports it to everyone
      control.key(0x63, false);
      await waitFor('the control viewer\'s key reported to both', async () =>
        seenByViewer.includes('key 63 up') && seenByControl.includes('key 63 up'), 10000, 50);
      // The view-only keys were sent first on their own connection; give them time anyway.
      viewer.key(0x76, true);
      await Promise.all([control.waitForUpdate(15000), viewer.waitForUpdate(15000)]);
      assert.deepEqual([...seenByControl, ...seenByViewer].filter((t) => t.startsWith('key 76')), []);
      const res = await stats();
      const modes = res.body.viewers.map((v) => v.mode).sort();
      assert.deepEqual(modes, ['control', 'view_only'], res.text);
      const metrics = await api(server, 'GET', '/metrics');
      const dropped = Number(/^vmshare_console_dropped_messages_total (\S+)$/m.exec(metrics.text)?.[1]);
      assert.ok(dropped >= 3, `dropped view-only messages: ${dropped}`);
      assert.match(metrics.text, /^vmshare_console_viewers\{mode="view_only"\} 1$/m);
      assert.match(metrics.text, /^vmshare_console_input_latency_seconds_count \d+$/m);
    } finally {
      control.close();
      viewer.close();
    }
  });

  test('a malformed client stream closes that viewer with "protocol error"; the other keeps streaming', async () => {
    const good = await open();
    const bad = await open();
    try {
      await Promise.all([good.waitForUpdate(15000), bad.waitForUpdate(15000)]);
      const closed = new Promise((resolve) => bad.once('close', resolve));
      bad.sendRaw(Buffer.from([7, 0, 0, 0]));  // there is no client message 7
      const info = await closed;
      assert.equal(info.reason, 'protocol error');
      const before = good.updates;
      await good.waitForUpdate(15000);
      await good.waitForUpdate(15000);
      assert.ok(good.updates >= before + 2 && !good.closed);
      const metrics = await api(server, 'GET', '/metrics');
      assert.match(metrics.text, /^vmshare_console_protocol_errors_total [1-9]/m);
    } finally {
      good.close();
      bad.close();
    }
  });

  test('the console page loads the toolbar figures module', async () => {
    const page = await api(server, 'GET', `/console/${vmid}`, { cookie: owner.cookie });
    assert.equal(page.status, 200);
    assert.match(page.text, /<script type="module" src="\/js\/console_figures\.js"><\/script>/);
    const js = await api(server, 'GET', '/js/console_figures.js');
    assert.equal(js.status, 200);
    assert.match(js.text, /\/vm\/console_stats/);
  });
});
