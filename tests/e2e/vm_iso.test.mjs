// ISO boot with real QEMU: Debian's GRUB rescue CD (package grub-rescue-pc) uploaded through
// POST /api/post and booted with /run-iso shows GRUB on the console.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { RfbClient } from './lib/rfb_client.mjs';
import { waitForScreenText } from './lib/screen_text.mjs';
import { multipart } from './lib/multipart.mjs';
import { api, registerUser } from './lib/server.mjs';
import { consoleUrl, qemuPids, saveArtifact, screenshotOf, startVmServer, stopServers } from './lib/vm_helpers.mjs';

const GRUB_ISO = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';

let server;
before(async () => { server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } }); });
after(async () => { await stopServers(server); });

test('upload the GRUB rescue ISO, /run-iso, GRUB on the screen', { skip: !existsSync(GRUB_ISO) && `${GRUB_ISO} missing (apt-get install grub-rescue-pc)` }, async () => {
  const user = await registerUser(server);
  const iso = readFileSync(GRUB_ISO);
  const upload = await api(server, 'POST', '/api/post', { token: user.token, ...multipart('file', 'grub-rescue-cdrom.iso', iso), timeoutMs: 60000 });
  assert.equal(upload.status, 200, upload.text);
  assert.equal(upload.body.size, iso.length);
  assert.equal(upload.body.user_id, user.id);
  assert.ok(!upload.text.includes(server.dataDir), 'no server path in the answer');

  const res = await api(server, 'POST', '/run-iso', { token: user.token });
  assert.equal(res.status, 200, res.text);
  const { vmid } = res.body.vm;
  assert.equal(res.body.vm.os_type, 'custom');
  assert.equal(res.body.ws_path, `/ws/${vmid}`);
  const [pid] = await qemuPids(server.dataDir);
  assert.ok(pid, 'QEMU runs');

  const rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
  try {
    await rfb.waitForUpdate(60000, () => rfb.nonBlackPixels() > 0);
    // GRUB's rescue CD drops to its shell ("grub>") or shows its menu ("GNU GRUB").
    const seen = await waitForScreenText(async () => rfb.toPng(), /GRUB|grub>/, 120000).catch((e) => {
      if (e.png) saveArtifact('vm-iso-no-grub.png', e.png);
      throw e;
    });
    saveArtifact('vm-iso-grub.png', seen.png);
    // The server's screendump agrees.
    await waitForScreenText(screenshotOf(server, user), /GRUB|grub>/, 15000);
  } finally {
    rfb.close();
  }
  // A second /run-iso returns the running VM.
  const again = await api(server, 'POST', '/run-iso', { token: user.token });
  assert.equal(again.body.vm.vmid, vmid);
  assert.equal((await api(server, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 })).status, 200);
});

test('/run-iso without an uploaded ISO: 404 and nothing started', async () => {
  const user = await registerUser(server);
  const before = (await qemuPids(server.dataDir)).length;
  const res = await api(server, 'POST', '/run-iso', { token: user.token });
  assert.equal(res.status, 404, res.text);
  assert.equal((await qemuPids(server.dataDir)).length, before);
});
