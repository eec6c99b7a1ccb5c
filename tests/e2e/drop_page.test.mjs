// The console page's "send files" in a real browser (Debian's chromium via playwright-core)
// against vmshare with the fake QEMU (bench/fake_rfb_qemu): files chosen with the button or
// dropped on the page go to the VM on a USB stick; Eject lists what came back, as download links.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, openPage, snap } from './lib/browser.mjs';
import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { ROOT, registerUser } from './lib/server.mjs';
import { runScript } from './lib/vm_helpers.mjs';

let server;
let browser;
// Screenshots are for people reading the artefacts; on a loaded host one can time out while the
// fake console keeps drawing, which says nothing about the page.
const picture = (page, name) => snap(page, name).catch((e) => console.log(`screenshot ${name}: ${e.message.split('\n')[0]}`));

before(async () => {
  execFileSync(path.join(ROOT, 'scripts/build-web.sh'), { stdio: 'inherit' });
  server = await startFakeVmServer({ env: { VMSHARE_WEB_DIR: path.join(ROOT, 'web') } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

describe('console page: send files to the VM', () => {
  test('choose files, eject, download links; drag and drop shows the zone and sends', async () => {
    const user = await registerUser(server);
    const vmid = (await runScript(server, user, 'fake')).body.vm.vmid;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies([{ name: 'access_token', value: user.token, url: server.url }]);
    try {
      const page = await openPage(context);
      // The console itself is not what this test is about, and the fake QEMU answers every
      // frame request at once with a full frame, a flood a loaded host's browser cannot keep
      // up with: its WebSocket never connects here (the page waits at "Connecting…").
      await page.addInitScript(() => {
        window.WebSocket = class extends EventTarget {
          constructor(url) { super(); this.url = url; this.readyState = 0; this.protocol = ''; this.binaryType = 'blob'; }
          send() {}
          close() {}
        };
      });
      await page.goto(`${server.url}/console/${vmid}`);
      await page.locator('#drop-files').waitFor();  // shown once /vm/drop says the VM is the caller's

      // Chosen with the button.
      await page.locator('#drop-input').setInputFiles([
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('some notes\n') },
        { name: 'photo.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(5000, 1) },
      ]);
      await page.locator('#drop-state', { hasText: '2 files on the USB stick, on the USB drive labelled VMSHARE.' }).waitFor({ timeout: 30000 });
      assert.match(await page.locator('#drop-panel').textContent(), /notes\.txt[\s\S]*photo\.bin/);
      await picture(page, 'console-drop-plugged');

      await page.getByRole('button', { name: 'Eject' }).click();
      await page.locator('#drop-state', { hasText: 'The USB stick came back with 2 files' }).waitFor({ timeout: 30000 });
      const link = page.getByRole('link', { name: 'notes.txt' });
      assert.equal(await link.getAttribute('href'), '/vm/drop/files/notes.txt');
      const download = await page.request.get(`${server.url}/vm/drop/files/notes.txt`);
      assert.equal(await download.text(), 'some notes\n');
      await picture(page, 'console-drop-ejected');

      // Dragged onto the page: the zone shows while dragging, the drop sends the file.
      const dataTransfer = await page.evaluateHandle(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['dragged\n'], 'dragged.txt', { type: 'text/plain' }));
        return dt;
      });
      await page.dispatchEvent('#screen', 'dragenter', { dataTransfer });
      assert.ok(await page.locator('#drop-zone').isVisible(), 'the drop zone shows while files are dragged over');
      await picture(page, 'console-drop-zone');
      await page.dispatchEvent('#drop-zone', 'dragover', { dataTransfer });
      await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
      assert.ok(await page.locator('#drop-zone').isHidden());
      await page.locator('#drop-state', { hasText: '1 file on the USB stick' }).waitFor({ timeout: 30000 });

      // A second drop while the stick is plugged in: the server's reason is shown.
      page.problems.length = 0;
      await page.locator('#drop-input').setInputFiles([{ name: 'more.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]);
      await page.locator('#drop-panel .alert-error', { hasText: /eject/i }).waitFor({ timeout: 30000 });
      assert.deepEqual(page.problems.filter((p) => !/status of 409/.test(p)), []);
    } finally {
      await context.close();
    }
  });
});
