// A real operating system nobody here wrote: Debian 12's own installer (package
// debian-installer-12-netboot-amd64), added to a running server's catalog with
// `vmshare image add --kernel --initrd --append`, picked up without a restart, booted under TCG
// through vmshare and driven over the console: its first screen ("Select a language") is read
// with tesseract, Enter picks the language, and the next screen ("Select your location")
// follows. Along the way: `image remove` is refused while the VM runs and works after it.
// One VM, generous timeouts: a loaded 2-core CI takes a few minutes to boot the installer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { KEY, RfbClient } from './lib/rfb_client.mjs';
import { waitForScreenText } from './lib/screen_text.mjs';
import { api, registerUser, runVmshare } from './lib/server.mjs';
import { IMAGES, consoleUrl, saveArtifact, startVmServer, stopServers, waitFor } from './lib/vm_helpers.mjs';

const DI = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
const KERNEL = `${DI}/linux`, INITRD = `${DI}/initrd.gz`;
const NAME = 'debian-installer';
const BOOT_MS = 8 * 60000;  // measured: ~1 min on an idle core, several on a loaded CI host
const skip = !existsSync(KERNEL) ? `${KERNEL} missing (apt-get install debian-installer-12-netboot-amd64)`
  : !existsSync(IMAGES) ? `no catalog at ${IMAGES}` : false;

let server, store, catalog;
before(async () => {
  if (skip) return;
  // A catalog of its own (a copy of the tiny one), in a folder the VMs' users can read: the
  // confined QEMU opens a kernel by path.
  store = mkdtempSync(path.join(os.tmpdir(), 'vmshare-di-'));
  chmodSync(store, 0o755);
  catalog = path.join(store, 'catalog.json');
  const doc = JSON.parse(readFileSync(IMAGES, 'utf8'));
  writeFileSync(catalog, JSON.stringify({ ...doc, profiles: doc.profiles.filter((p) => p.name !== NAME) }, null, 2));
  server = await startVmServer({ env: { VMSHARE_IMAGES: catalog, VMSHARE_DISCONNECT_GRACE_S: '600' } });
});
after(async () => {
  await stopServers(server);
  if (store) rmSync(store, { recursive: true, force: true });
});

const image = (...args) => runVmshare(['image', ...args], { env: server.env, timeoutMs: 120000 });
const listed = async () => (await api(server, 'GET', '/images')).body.map((p) => p.name);

// Black text and the red of titles are ink; the installer's blue screen and grey dialogs are
// paper (the default reading takes any bright pixel for ink: the tiny guest's grey on black).
const dark = (r, g, b) => 0.299 * r + 0.587 * g + 0.114 * b < 70 && b < 100;

test('image add with bad input: a clear error and the catalog unchanged', { skip }, async (t) => {
  const before = readFileSync(catalog, 'utf8');
  const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'vmshare-di-in-'));
  const overlay = path.join(elsewhere, 'overlay.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', KERNEL, '-F', 'raw', overlay]);
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  for (const [args, why] of [
    [['Bad Name', '--kernel', KERNEL], /image name/],
    [[NAME, '--kernel', KERNEL, '--memory', '10'], /--memory 10/],
    [[NAME, '--initrd', INITRD], /--initrd needs --kernel/],
    [['tiny', '--kernel', KERNEL], /already in the catalog/],
    [[NAME, '/no/such/file.qcow2'], /no such file/],
    [[NAME, overlay], /has a backing file/],  // an overlay would boot with its base's data missing
  ]) {
    const r = await image('add', ...args);
    assert.notEqual(r.code, 0, `${args.join(' ')} succeeded: ${r.stdout}`);
    assert.match(r.stderr, why);
  }
  assert.equal(readFileSync(catalog, 'utf8'), before);
  assert.deepEqual(readdirSync(store).filter((f) => f !== 'catalog.json' && f !== 'catalog.json.lock'), [], 'no file left');
});

test("Debian's installer: added while the server runs, booted, driven over the console", { skip, timeout: BOOT_MS + 5 * 60000 }, async (t) => {
  const add = await image('add', NAME, '--kernel', KERNEL, '--initrd', INITRD,
    '--append', 'fb=false vga=normal --- quiet', '--memory', '1024', '--title', 'Debian 12 installer');
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /added image debian-installer/);
  // Hot reload: no restart, /images lists it within seconds, tiny stays.
  await waitFor('the catalog reloaded', async () => (await listed()).includes(NAME), 20000);
  assert.ok((await listed()).includes('tiny'));
  assert.match(server.logs(), /catalog: reloaded .* \(2 profile\(s\)\)/);

  const user = await registerUser(server);
  const t0 = Date.now();
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: NAME }, timeoutMs: 120000 });
  assert.equal(res.status, 200, res.text);
  const { vmid } = res.body.vm;
  assert.equal(res.body.vm.os_type, NAME);

  const rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
  try {
    const screen = (pattern, ms, name) => waitForScreenText(async () => rfb.toPng(), pattern, ms, { intervalMs: 3000, ink: dark })
      .catch((e) => { if (e.png) saveArtifact(`debian-installer-no-${name}.png`, e.png); throw e; });
    const first = await screen(/Select a language/i, BOOT_MS, 'language');
    const seconds = ((Date.now() - t0) / 1000).toFixed(0);
    saveArtifact('debian-installer-language.png', first.png);
    t.diagnostic(`the installer's first screen after ${seconds} s (TCG, from POST /run-script)`);

    // In use: refused, and the catalog keeps it.
    const busy = await image('remove', NAME);
    assert.equal(busy.code, 1, busy.stdout);
    assert.match(busy.stderr, new RegExp(`in use by 1 running VM\\(s\\) \\(${vmid}\\)`));
    assert.ok((await listed()).includes(NAME));

    // Enter takes the highlighted language (English); the installer moves on.
    await rfb.press(KEY.Enter);
    const next = await screen(/Select your location/i, 3 * 60000, 'location');
    saveArtifact('debian-installer-location.png', next.png);
    assert.doesNotMatch(next.text, /Select a language/i);
  } finally {
    rfb.close();
  }
  assert.equal((await api(server, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 })).status, 200);

  // No VM uses it now: removed from the catalog (the server drops it) and from the store.
  await waitFor('the VM gone', async () => !readdirSync(path.join(server.dataDir, 'vms')).length, 30000);
  const removed = await image('remove', NAME);
  assert.equal(removed.code, 0, removed.stderr);
  await waitFor('the catalog reloaded', async () => !(await listed()).includes(NAME), 20000);
  assert.deepEqual(readdirSync(store).filter((f) => f.startsWith(NAME)), []);
});
