// Share links in the browser and with the real tiny guest (issue 15), one server and one VM
// for the file: the console page's share dialog and viewer list, and the share page a visitor
// opens, in Debian's chromium (the owner makes a view-only link and copies its URL, a visitor
// without an account opens it and sees the screen, the owner sees them in the viewer list and
// ends them, then revokes the link and the visitor's page says the link no longer works); then,
// over RFB, a view-only visitor's keys never reach the guest while the owner's do (read back by
// OCR). The real guest, not bench/fake_rfb_qemu: the fake answers every update request at once
// with a full raw frame, which keeps a browser's main thread too busy for Playwright on a
// loaded host. Screenshots: tests/artifacts/pages/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, launchBrowser, litPixels, openPage, snap } from './lib/browser.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { PROMPT, screenText, waitForScreenText } from './lib/screen_text.mjs';
import { ROOT, api, registerUser, sleep } from './lib/server.mjs';
import { consoleUrl, launch, saveArtifact, screenshotOf, startVmServer, stopServers } from './lib/vm_helpers.mjs';

const BOOT_MS = 150000;  // shared 2-core hosts: the prompt takes 30-90 s under TCG
let server, browser, owner, vmid;
const clients = [];
const loadFailed = (status) => new RegExp(`Failed to load resource: the server responded with a status of ${status}`);

before(async () => {
  execFileSync(path.join(ROOT, 'scripts/build-web.sh'), { stdio: 'inherit' });
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startVmServer({ env: { VMSHARE_WEB_DIR: path.join(ROOT, 'web'), VMSHARE_DISCONNECT_GRACE_S: '600' } });
  owner = await registerUser(server);
  vmid = await launch(server, owner);  // boots while the page tests run
  browser = await launchBrowser();
});
after(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await stopServers(server);
});

async function waitLit(page, what) {
  const deadline = Date.now() + 60000;
  while ((await litPixels(page)) < 50) {
    assert.ok(Date.now() < deadline, `${what}: the canvas stayed black`);
    await sleep(250);
  }
}

test('share dialog, visitor page, viewer list: make a link, watch, end, revoke', { timeout: 180000 }, async () => {
  const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ownerContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await ownerContext.addCookies([{ name: 'access_token', value: owner.token, url: server.url }]);
  const visitorContext = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  try {
    const page = await openPage(ownerContext);
    await page.goto(`${server.url}/console/${vmid}`);
    await page.locator('#conn-state', { hasText: /^Connected$/ }).waitFor({ timeout: 30000 });

    // The share dialog: view only, 15 minutes, no sign-in.
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Share this console' });
    await dialog.waitFor();
    assert.ok(await dialog.getByText('No live links.').isVisible());
    await dialog.getByLabel('Visitors may').selectOption('view_only');
    await dialog.getByLabel('Link expires after').selectOption('15');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const urlField = dialog.getByLabel(/Link \(shown only now/);
    await urlField.waitFor();
    const url = await urlField.inputValue();
    assert.match(url, new RegExp(`^${server.url}/share#[0-9a-f]{64}$`));
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await dialog.getByText(/copied|Ctrl\+C/).waitFor();
    const live = dialog.locator('#share-links li');
    await live.first().waitFor();
    assert.equal(await live.count(), 1);
    assert.match(await live.first().textContent(), /View only · expires in 1[45] min · 0 watching/);
    await snap(page, 'share-dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The visitor, without an account, sees the screen in view-only mode.
    const visitor = await openPage(visitorContext, { allow: [loadFailed(410)] });
    visitor.on('websocket', (ws) => assert.ok(!ws.url().includes(url.split('#')[1]), 'the token is not in the WebSocket URL'));
    await visitor.goto(url);
    await visitor.locator('#conn-state', { hasText: /^Connected$/ }).waitFor({ timeout: 30000 });
    assert.equal(await visitor.locator('#share-mode').textContent(), 'View only');
    assert.match(await visitor.locator('#countdown').textContent(), /Link expires in 1[45]:\d\d/);
    await waitLit(visitor, 'visitor');
    await snap(visitor, 'share-visitor');

    // The owner's viewer list shows both consoles; ending the visitor disconnects them for good.
    await page.getByRole('button', { name: 'Viewers' }).click();
    const viewers = page.getByRole('dialog', { name: 'Who is watching' });
    const rows = viewers.locator('#viewers-items li');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).textContent(), /Owner console \(.+\)control · 127\.0\.0\.1/);
    const linkRow = viewers.locator('li', { hasText: /Share link #\d+/ });
    assert.match(await linkRow.textContent(), /view only · 127\.0\.0\.1 · for \d+ s/);
    await snap(page, 'viewer-list');
    await linkRow.getByRole('button', { name: 'End' }).click();
    await viewers.getByText(/disconnected\./).waitFor();
    await viewers.locator('#viewers-items li').nth(1).waitFor({ state: 'detached', timeout: 10000 });
    await visitor.locator('#overlay', { hasText: 'The owner disconnected you' }).waitFor({ timeout: 10000 });
    await snap(visitor, 'share-visitor-ended');
    await viewers.getByRole('button', { name: 'Close' }).click();

    // The visitor may ask again; then the owner revokes the link and the page says it is dead.
    await visitor.getByRole('button', { name: 'Reconnect now' }).click();
    await visitor.locator('#conn-state', { hasText: /^Connected$/ }).waitFor({ timeout: 30000 });
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    await dialog.locator('#share-links li').getByRole('button', { name: 'Revoke' }).click();
    await dialog.getByText(/revoked; its viewers were disconnected/).waitFor();
    await dialog.getByText('No live links.').waitFor();
    await visitor.locator('#overlay', { hasText: 'This link no longer works' }).waitFor({ timeout: 15000 });
    assert.match(await visitor.locator('#overlay-text').textContent(), /revoked/);
    await snap(visitor, 'share-visitor-revoked');

    assert.deepEqual(page.problems, [], 'owner console page');
    assert.deepEqual(visitor.problems, [], 'visitor page');
  } finally {
    await ownerContext.close();
    await visitorContext.close();
  }
});

test('a share page with a bad or missing token says so at once', async () => {
  const context = await browser.newContext();
  try {
    const page = await openPage(context, { allow: [loadFailed(404)] });
    await page.goto(`${server.url}/share#${'0'.repeat(64)}`);
    await page.locator('#overlay', { hasText: 'This link no longer works' }).waitFor({ timeout: 10000 });
    assert.match(await page.locator('#overlay-text').textContent(), /not valid/);
    await page.goto(`${server.url}/share`);
    await page.reload();
    await page.locator('#overlay', { hasText: 'No share link' }).waitFor({ timeout: 10000 });
    await page.setViewportSize({ width: 390, height: 844 });
    await snap(page, 'phone-share-invalid');
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test('a view-only visitor\'s keys never reach the guest; the owner\'s do', { timeout: 240000 }, async () => {
  // The console pages of the test above are closed: the owner connects over RFB now.
  const mine = await RfbClient.connect(consoleUrl(server, vmid), { cookie: owner.cookie, origin: server.url });
  clients.push(mine);
  await waitForScreenText(async () => mine.toPng(), PROMPT, BOOT_MS);

  const made = await api(server, 'POST', '/vm/share', { token: owner.token, json: { mode: 'view_only', minutes: 10 } });
  assert.equal(made.status, 200, made.text);
  const token = made.body.url.split('#')[1];
  const visitor = await RfbClient.connect(`ws://127.0.0.1:${server.port}/share/ws`,
    { origin: server.url, protocols: ['binary', `vmshare-share.${token}`] });
  clients.push(visitor);
  await visitor.waitForUpdate(30000, () => visitor.nonBlackPixels() > 0);

  // The visitor types a command (and Enter); the guest must never see it.
  await visitor.typeText('echo leaked-keys\n');
  await sleep(3000);
  assert.ok(!visitor.closed, 'a view-only viewer stays connected; its input is only dropped');
  const after = await screenText(await screenshotOf(server, owner)());
  assert.doesNotMatch(after, /leak/i, `the visitor's keys reached the guest:\n${after}`);

  // The owner's keys do; the visitor watches the echo arrive.
  await mine.typeText('echo owner-typed\n');
  const seen = await waitForScreenText(async () => visitor.toPng(), /owner.typed[\s\S]*\n\s*owner.typed/, 30000);
  saveArtifact('share-view-only.png', seen.png);
  assert.doesNotMatch(seen.text, /leak/i);
});
