// The replay page (issue 15 item 2) in a real browser: the dashboard lists a recording, its
// Replay link opens /replay/<id>, noVNC paints the recorded screen, the seek bar follows the
// playback, speed buttons, pause, seek and the end. The VM is bench/fake_rfb_qemu (fast).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, litPixels, openPage, snap } from './lib/browser.mjs';
import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { ROOT, api, registerUser, sleep } from './lib/server.mjs';
import { waitFor } from './lib/vm_helpers.mjs';

let server;
let browser;

before(async () => {
  execFileSync(path.join(ROOT, 'scripts/build-web.sh'), { stdio: 'inherit' });
  // The fake sends a raw 1.1 MB frame for each request (~10/s): room for an 8 s recording.
  server = await startFakeVmServer({ env: { VMSHARE_WEB_DIR: path.join(ROOT, 'web'), RECORDING_MAX_MB: '256' } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (!server) return;
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

test('a recording is listed on the dashboard and replays with speed, pause and seek', async () => {
  const user = await registerUser(server);
  const run = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(run.status, 200, run.text);
  assert.equal((await api(server, 'POST', '/vm/recording', { token: user.token, json: { on: true } })).status, 200);
  await sleep(8000);
  const off = await api(server, 'POST', '/vm/recording', { token: user.token, json: { on: false } });
  assert.equal(off.status, 200, off.text);
  const rec = off.body.last;
  assert.ok(rec.duration_ms > 7000, JSON.stringify(rec));

  const context = await browser.newContext();
  await context.addCookies([{ name: 'access_token', value: user.token, url: server.url }]);
  const page = await openPage(context);
  await page.goto(`${server.url}/profile`);
  const replayLink = page.locator(`#rec-list li[data-id="${rec.id}"] a`, { hasText: 'Replay' });
  await replayLink.waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#rec-toggle').textContent(), 'Record');
  await replayLink.click();
  await page.waitForURL(`**/replay/${rec.id}`);

  await waitFor('the recorded screen on the canvas', async () => (await litPixels(page)) > 1000, 15000);
  const seekValue = async () => Number(await page.locator('#seek').inputValue());
  assert.equal(Number(await page.locator('#seek').getAttribute('max')), rec.duration_ms);
  const first = await seekValue();
  await sleep(800);
  assert.ok((await seekValue()) > first, 'the seek bar moves while playing');
  await snap(page, 'replay-playing');

  await page.getByRole('button', { name: 'Pause' }).click();
  assert.equal(await page.locator('#replay-state').textContent(), 'Paused');
  const paused = await seekValue();
  await sleep(500);
  assert.equal(await seekValue(), paused, 'paused: the position holds');
  assert.equal(await page.locator('#still').isHidden(), false, 'the last picture stays while paused');

  await page.getByRole('button', { name: '2×' }).click();
  assert.equal(await page.getByRole('button', { name: '2×' }).getAttribute('aria-pressed'), 'true');
  assert.equal(await page.getByRole('button', { name: '1×' }).getAttribute('aria-pressed'), 'false');
  await page.getByRole('button', { name: 'Play' }).click();
  await waitFor('playing at 2x', async () => {
    const text = await page.locator('#replay-state').textContent();
    if (text === 'Ended' || text === 'Disconnected') assert.fail(`the replay stopped: ${text}`);
    return text === 'Playing 2×';
  }, 5000);

  // Seek back near the start (a new stream from the nearest full frame), then 4x to the end.
  await page.locator('#seek').evaluate((el) => { el.value = '300'; el.dispatchEvent(new Event('change')); });
  assert.match(await page.locator('#clock').textContent(), /^0:00 \//);
  await page.getByRole('button', { name: '4×' }).click();
  await waitFor('the replay to end', async () => (await page.locator('#replay-state').textContent()) === 'Ended', 15000);
  assert.equal(await seekValue(), rec.duration_ms);
  assert.ok((await page.evaluate(() => {
    const c = document.querySelector('#still');
    return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 !== 3 && v > 0);
  })), 'the last frame stays on screen after the end');
  await snap(page, 'replay-ended');
  assert.equal(await page.locator('#download').getAttribute('href'), `/recordings/${rec.id}/download`);
  assert.deepEqual(page.problems, []);
  await context.close();
});
