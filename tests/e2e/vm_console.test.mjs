// The real tiny guest under TCG through the console WebSocket: RFB handshake, the guest's screen,
// keys typed over RFB reaching the shell, refused consoles, screenshot, reset, stop, logout.
// One server and one booted VM are shared by the tests in order (booting is the slow part).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { isPng } from './lib/png.mjs';
import { RfbClient, openConsoleSocket } from './lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from './lib/screen_text.mjs';
import { api, registerUser } from './lib/server.mjs';
import {
  assertSessionVmids, assertVmGone, consoleUrl, launch, qemuPids, runScript, saveArtifact, screenshotOf, sessionsFor,
  startVmServer, stopServers, vmStatus, waitFor,
} from './lib/vm_helpers.mjs';

const BOOT_MS = 150000;  // shared 2-core hosts: the prompt takes 30-90 s under TCG

describe('VM console with the real tiny guest', () => {
  let server, owner, other, vmid, rfb;
  const open = (opts = {}) => RfbClient.connect(consoleUrl(server, vmid), { cookie: owner.cookie, origin: server.url, ...opts });

  before(async () => {
    // A long grace: the VM must survive the gaps between tests without a viewer.
    server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } });
    [owner, other] = await Promise.all([registerUser(server), registerUser(server)]);
  });
  after(async () => {
    rfb?.close();
    await stopServers(server);
  });

  test('GET /images lists tiny; unknown os_type 400; /run-script without credentials 401', async () => {
    const images = await api(server, 'GET', '/images');
    assert.equal(images.status, 200, images.text);
    const tiny = images.body.find((p) => p.name === 'tiny');
    assert.ok(tiny, images.text);
    for (const k of ['title', 'memory_mb', 'cpus', 'kind']) assert.ok(k in tiny, `image field ${k}`);
    assert.ok(!images.text.includes('base_image') && !images.text.includes('.qcow2'), 'no server paths in the catalog');

    const unknown = await runScript(server, owner, 'no-such-os');
    assert.equal(unknown.status, 400, unknown.text);
    assert.equal(typeof unknown.body.detail, 'string');
    const anonymous = await api(server, 'POST', '/run-script', { json: { os_type: 'tiny' } });
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.deepEqual(await qemuPids(server.dataDir), [], 'refused launches start nothing');
  });

  test('/run-script -> RFB through /ws/<vmid> -> the guest screen -> typed keys appear', async () => {
    const res = await runScript(server, owner);
    assert.equal(res.status, 200, res.text);
    vmid = res.body.vm.vmid;
    assert.match(vmid, /^[a-z0-9]{8,}$/);
    assert.equal(res.body.vm.user_id, owner.id);
    assert.equal(res.body.vm.os_type, 'tiny');
    assert.equal(typeof res.body.vm.started_at, 'string');
    assert.equal(typeof res.body.vm.status, 'string');
    assert.equal(res.body.redirect, `/console/${vmid}`);
    assert.equal(res.body.ws_path, `/ws/${vmid}`);

    rfb = await open();
    assert.match(rfb.serverVersion, /^RFB 003\.008$/);
    assert.ok(rfb.width >= 320 && rfb.height >= 200, `${rfb.width}x${rfb.height}`);
    await rfb.waitForUpdate(60000, () => rfb.nonBlackPixels() > 0);
    saveArtifact('vm-console-first-frame.png', rfb.toPng());

    const prompt = await waitForScreenText(async () => rfb.toPng(), PROMPT, BOOT_MS).catch((e) => {
      if (e.png) saveArtifact('vm-console-no-prompt.png', e.png);
      throw e;
    });
    saveArtifact('vm-console-prompt.png', prompt.png);

    await rfb.typeText('echo hello\n');
    // Once on the command line, once as its output.
    const seen = await waitForScreenText(async () => rfb.toPng(), /hello[\s\S]*\n\s*hello/, 30000);
    saveArtifact('vm-console-hello.png', seen.png);
    // The server's own screendump shows the same thing.
    const shot = await waitForScreenText(screenshotOf(server, owner), /hello[\s\S]*\n\s*hello/, 15000);
    saveArtifact('vm-console-hello-screendump.png', shot.png);
  });

  test('GET /vm/screenshot is a PNG and /vm/status describes the VM', async () => {
    assert.ok(vmid, 'needs the VM from the previous test');
    const shot = await api(server, 'GET', '/vm/screenshot', { token: owner.token });
    assert.equal(shot.status, 200);
    assert.equal(shot.headers['content-type'], 'image/png');
    assert.ok(isPng(shot.raw), 'PNG magic bytes');
    const status = await vmStatus(server, owner);
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.vmid, vmid);
    assert.equal(status.body.viewers, 1);
    assert.ok(Date.parse(status.body.expires_at) > Date.parse(status.body.started_at));
    const none = await vmStatus(server, other);
    assert.equal(none.status, 404);
  });

  test('a second viewer gets the same screen while the first stays connected', async () => {
    const second = await open();
    try {
      await second.waitForUpdate(30000, () => second.nonBlackPixels() > 0);
      assert.equal((await vmStatus(server, owner)).body.viewers, 2);
      assert.ok(!rfb.closed, 'the first viewer is still connected');
    } finally {
      second.close();
      await second.whenClosed();
    }
    await waitFor('viewer count back to 1', async () => (await vmStatus(server, owner)).body.viewers === 1, 5000);
  });

  test('console refused: no credentials 401, another user 403, foreign Origin 403, unknown VM 404', async () => {
    const url = consoleUrl(server, vmid);
    const refused = (opts) => openConsoleSocket(url, opts).then((ws) => { ws.terminate(); return 101; }, (e) => e.status ?? e.message);
    assert.equal(await refused({ origin: server.url }), 401);
    assert.equal(await refused({ cookie: 'access_token=not-a-jwt', origin: server.url }), 401);
    assert.equal(await refused({ token: other.token }), 403);
    assert.equal(await refused({ cookie: other.cookie, origin: server.url }), 403);
    assert.equal(await refused({ cookie: owner.cookie, origin: 'http://evil.example' }), 403);
    assert.equal(await refused({ cookie: owner.cookie, origin: `http://127.0.0.1:${server.port + 1}` }), 403);
    assert.equal(await refused({ cookie: owner.cookie, origin: server.url }), 101, 'the owner gets in');
    assert.equal(await openConsoleSocket(consoleUrl(server, 'nosuchvm0000000'), { cookie: owner.cookie, origin: server.url })
      .then(() => 101, (e) => e.status), 404);
    assert.equal((await vmStatus(server, owner)).body.vmid, vmid, 'the VM is unaffected');
  });

  test('/vm/reset reboots the guest: the firmware shows, then the shell comes back', async () => {
    const res = await api(server, 'POST', '/vm/reset', { token: owner.token });
    assert.equal(res.status, 200, res.text);
    assert.equal((await vmStatus(server, owner)).body.vmid, vmid);
    // The banner and `hello` give way to SeaBIOS / SYSLINUX, then the prompt returns; the console
    // stays connected throughout.
    await waitForScreenText(async () => rfb.toPng(), /SeaBIOS|SYSLINUX|Booting from/i, 60000);
    const back = await waitForScreenText(async () => rfb.toPng(), PROMPT, BOOT_MS);
    assert.doesNotMatch(back.text, /hello/, 'a fresh screen after the reboot');
    assert.ok(!rfb.closed);
  });

  test('/vm/stop: 200, the console is closed, no process, folder or session left', async () => {
    const t0 = Date.now();
    const res = await api(server, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 });
    assert.equal(res.status, 200, res.text);
    // The guest is at its shell, so it honours the ACPI power button well before the forced stop.
    assert.ok(Date.now() - t0 < 15000, `stop took ${Date.now() - t0} ms`);
    assert.equal(res.body.vmid, vmid);
    await assertVmGone(server, owner, vmid);
    await waitFor('the console closed by the server', async () => rfb.closed, 10000);
    const again = await api(server, 'POST', '/vm/stop', { token: owner.token });
    assert.equal(again.status, 404, 'nothing left to stop');
  });

  test('/logout stops the VM', async () => {
    const user = await registerUser(server);
    const id = await launch(server, user);
    assert.equal((await qemuPids(path.join(server.dataDir, 'vms', id))).length, 1);
    const res = await api(server, 'POST', '/logout', { token: user.token });
    assert.equal(res.status, 200, res.text);
    await waitFor('QEMU gone after logout', async () => (await qemuPids(server.dataDir)).length === 0, 15000);
    await waitFor('VM folder gone', async () => !existsSync(path.join(server.dataDir, 'vms', id)), 5000);
    const login = await api(server, 'POST', '/login', { json: { username: user.login, password: user.password } });
    assert.equal(login.status, 200, login.text);
    assertSessionVmids(server, await sessionsFor(server, { token: login.body.access_token }), [], [id]);
    assert.equal((await api(server, 'GET', '/vm/status', { token: login.body.access_token })).status, 404);
  });
});
