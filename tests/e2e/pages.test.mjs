// The web pages in a real browser (Debian's chromium via playwright-core) against the real
// server and the real tiny guest: sign-up, dashboard, start, the noVNC console (typing reaches
// the guest, read back by OCR), snapshot, log out; plus sign-in errors, ISO upload progress and
// cancel, the CSP headers, and phone-width layouts. Screenshots go to tests/artifacts/pages/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, launchBrowser, litPixels, openPage, snap } from './lib/browser.mjs';
import { waitForScreenText } from './lib/screen_text.mjs';
import { ROOT, api, registerUser, sleep, startServer, uniqueLogin } from './lib/server.mjs';
import { qemuPids } from './lib/vm_helpers.mjs';

const IMAGES = process.env.VMSHARE_TEST_IMAGES || path.join(ROOT, 'var/images/catalog.json');
const HAVE_GUEST = existsSync(IMAGES);
const PROFILE = HAVE_GUEST ? JSON.parse(readFileSync(IMAGES, 'utf8')).profiles[0].name : null;
// The browser logs every non-2xx fetch; tests that expect one allow exactly that line.
const loadFailed = (status) => new RegExp(`Failed to load resource: the server responded with a status of ${status}`);

let server;
let browser;

before(async () => {
  // The pages need the built CSS and the vendored noVNC (quick when they are up to date).
  execFileSync(path.join(ROOT, 'scripts/build-web.sh'), { stdio: 'inherit' });
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer({ env: {
    VMSHARE_WEB_DIR: path.join(ROOT, 'web'),
    ...(HAVE_GUEST ? { VMSHARE_IMAGES: IMAGES } : {}),
    VMSHARE_ACCEL: process.env.VMSHARE_ACCEL || 'tcg',
  } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) writeFileSync(path.join(ARTIFACTS, 'server.log'), server.logs());
  await server?.stop();
});

// A browser context signed in as a new user (cookie from an API registration).
async function signedInContext(opts = {}) {
  const user = await registerUser(server);
  const context = await browser.newContext(opts);
  await context.addCookies([{ name: 'access_token', value: user.token, url: server.url }]);
  return { user, context };
}

function fakeIso(bytes) {
  const buf = Buffer.alloc(bytes);
  buf.write('CD001', 0x8001, 'ascii');  // the ISO 9660 primary volume descriptor's signature
  return buf;
}

describe('headers', () => {
  test('pages carry a strict Content-Security-Policy and refuse framing', async () => {
    for (const p of ['/', '/signup', '/profile', '/console/abc']) {
      const res = await api(server, 'GET', p);
      assert.equal(res.status, 200, p);
      const csp = res.headers['content-security-policy'];
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self';/);
      assert.match(csp, /style-src 'self';/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|google/);
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.doesNotMatch(res.text, /<script>|<script [^>]*>[^<]+<\/script>|<style| style=/, `${p} has inline code`);
    }
    const config = await api(server, 'GET', '/config.json');
    assert.deepEqual(config.body, { recaptcha_site_key: null });
    const asset = await api(server, 'GET', '/vendor/novnc/core/rfb.js');
    assert.equal(asset.status, 200);
    assert.match(asset.headers['content-type'], /javascript/);
  });

  test('with a reCAPTCHA site key the CSP allows Google\'s reCAPTCHA origins and the page gets the key', async () => {
    const other = await startServer({ env: { VMSHARE_WEB_DIR: path.join(ROOT, 'web'), RECAPTCHA_SITE_KEY: 'site-key-for-tests' } });
    try {
      const csp = (await api(other, 'GET', '/')).headers['content-security-policy'];
      assert.match(csp, /script-src 'self' https:\/\/www\.google\.com\/recaptcha\/ https:\/\/www\.gstatic\.com\/recaptcha\//);
      assert.match(csp, /frame-src https:\/\/www\.google\.com\/recaptcha\//);
      assert.deepEqual((await api(other, 'GET', '/config.json')).body, { recaptcha_site_key: 'site-key-for-tests' });
    } finally {
      await other.stop();
    }
  });
});

describe('sign-in page', () => {
  test('a wrong password shows the server\'s message; repeated failures show the wait', async () => {
    const user = await registerUser(server);
    const context = await browser.newContext();
    const page = await openPage(context, { allow: [loadFailed(401), loadFailed(429)] });
    try {
      await page.goto(`${server.url}/`);
      await snap(page, 'signin');
      await page.getByLabel('Username').fill(user.login);
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByLabel('Password').press('Enter');  // keyboard submit
      const error = page.locator('#form-error');
      await error.waitFor({ state: 'visible' });
      assert.match(await error.textContent(), /Incorrect username or password/);
      await snap(page, 'signin-wrong-password');
      for (let i = 0; i < 5; i++) {
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForFunction(() => !document.querySelector('button[type=submit]').disabled);
      }
      assert.match(await error.textContent(), /try again in \d+ seconds/i);
      assert.equal(new URL(page.url()).pathname, '/');
      assert.deepEqual(page.problems, []);
    } finally {
      await context.close();
    }
  });

  test('sign-up with a taken login says so', async () => {
    const user = await registerUser(server);
    const context = await browser.newContext();
    const page = await openPage(context, { allow: [loadFailed(409)] });
    try {
      await page.goto(`${server.url}/signup`);
      await page.getByLabel('Username').fill(user.login);
      await page.getByLabel('Password', { exact: true }).fill('another-password');
      await page.getByLabel('Repeat password').fill('another-password');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.locator('#form-error').waitFor({ state: 'visible' });
      assert.match(await page.locator('#form-error').textContent(), /already registered/i);
      await snap(page, 'signup-taken');
      assert.deepEqual(page.problems, []);
    } finally {
      await context.close();
    }
  });

  test('the dashboard sends a signed-out visitor to sign-in', async () => {
    const context = await browser.newContext();
    const page = await openPage(context, { allow: [loadFailed(401)] });
    try {
      await page.goto(`${server.url}/profile`);
      await page.waitForURL(`${server.url}/`);
      assert.deepEqual(page.problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('ISO upload', () => {
  test('shows progress, can be cancelled, then completes and offers to boot', async () => {
    const { context } = await signedInContext();
    const page = await openPage(context);
    try {
      await page.goto(`${server.url}/profile`);
      await page.locator('#user-login').filter({ hasNotText: '…' }).waitFor();
      // A slow link so the progress can be watched and the upload cancelled half-way.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
      await page.getByLabel('ISO image').setInputFiles({ name: 'big.iso', mimeType: 'application/x-iso9660-image', buffer: fakeIso(4 << 20) });
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.waitForFunction(() => {
        const v = Number(document.querySelector('#iso-bar').getAttribute('aria-valuenow'));
        return v > 0 && v < 100;
      }, null, { timeout: 15000 });
      assert.match(await page.locator('#iso-progress-text').textContent(), /of 4\.0 MB \(\d+%\)/);
      await snap(page, 'dashboard-upload-progress');
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.locator('#iso-message', { hasText: 'Upload cancelled' }).waitFor();
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

      await page.getByLabel('ISO image').setInputFiles({ name: 'small.iso', mimeType: 'application/x-iso9660-image', buffer: fakeIso(64 << 10) });
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.locator('#iso-message', { hasText: 'Uploaded small.iso' }).waitFor({ timeout: 15000 });
      assert.equal(await page.locator('#iso-bar').getAttribute('aria-valuenow'), '100');
      assert.ok(await page.getByRole('button', { name: 'Boot ISO' }).isVisible());
      await snap(page, 'dashboard-upload-done');

      // Not an ISO: the server's reason is shown.
      await page.getByLabel('ISO image').setInputFiles({ name: 'notes.iso', mimeType: 'application/octet-stream', buffer: Buffer.alloc(40000, 1) });
      page.problems.length = 0;
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.locator('#iso-message.alert-error').waitFor({ timeout: 15000 });
      assert.ok((await page.locator('#iso-message').textContent()).length > 5);
      assert.deepEqual(page.problems.filter((p) => !loadFailed(400).test(p)), []);
    } finally {
      await context.close();
    }
  });
});

describe('phone width', () => {
  test('sign-in and dashboard fit a 390 px wide screen', async () => {
    const { context } = await signedInContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await openPage(context);
    try {
      await page.goto(`${server.url}/profile`);
      await page.locator('#user-login').filter({ hasNotText: '…' }).waitFor();
      if (HAVE_GUEST) await page.locator('#catalog li').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the dashboard scrolls sideways by ${overflow} px`);
      await page.screenshot({ path: path.join(ROOT, 'tests/artifacts/pages/phone-dashboard.png'), fullPage: true });
      const signin = await openPage(await browser.newContext({ viewport: { width: 390, height: 844 } }));
      await signin.goto(`${server.url}/signup`);
      await snap(signin, 'phone-signup');
      await signin.context().close();
      assert.deepEqual(page.problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('the whole journey with the tiny guest', { skip: HAVE_GUEST ? false : `no guest catalog at ${IMAGES} (scripts/setup.sh builds it)` }, () => {
  test('sign up, start, console, type into the guest, snapshot, log out', { timeout: 280000 }, async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    try {
      const page = await openPage(context);
      // Every WebSocket the pages open is kept in window.__sockets, so the test can cut one.
      await page.addInitScript(() => {
        // A Proxy, not a subclass: noVNC checks the socket's own prototype for its properties.
        window.__sockets = [];
        window.WebSocket = new Proxy(window.WebSocket, {
          construct(Native, args) { const ws = new Native(...args); window.__sockets.push(ws); return ws; },
        });
      });
      const login = uniqueLogin('web');
      const password = 'correct horse battery';

      // Sign up.
      await page.goto(`${server.url}/signup`);
      await snap(page, 'signup');
      await page.getByLabel('Username').fill(login);
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByLabel('Repeat password').fill(password);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.waitForURL(`${server.url}/profile`);
      await page.locator('#user-login', { hasText: login }).waitFor();
      await page.locator(`#catalog button[data-os="${PROFILE}"]`).waitFor();
      await snap(page, 'dashboard-empty');
      assert.deepEqual(page.problems, [], 'dashboard');

      // Start: the dashboard opens the console.
      await page.locator(`#catalog button[data-os="${PROFILE}"]`).click();
      await page.waitForURL(/\/console\/[^/]+$/, { timeout: 60000 });
      const vmid = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]);
      await page.locator('#conn-state', { hasText: /^Connected$/ }).waitFor({ timeout: 30000 });

      // The canvas shows the guest's screen.
      const deadline = Date.now() + 60000;
      while ((await litPixels(page)) < 50) {
        assert.ok(Date.now() < deadline, 'the console canvas stayed black');
        await sleep(500);
      }
      const screenshot = async () => {
        const res = await page.request.get(`${server.url}/vm/screenshot`);
        assert.equal(res.status(), 200);
        return res.body();
      };
      await waitForScreenText(screenshot, /tiny:/, 90000);
      assert.match(await page.locator('#countdown').textContent(), /Session ends in \d+:\d\d/);

      // Keyboard into the canvas reaches the guest.
      await page.locator('#screen canvas').click();
      await page.keyboard.type('echo hello-e2e', { delay: 30 });
      await page.keyboard.press('Enter');
      // The echoed line, not the command line; OCR sometimes splits the word.
      await waitForScreenText(screenshot, /^[ \t]*hel ?lo.e2e[ \t]*$/m, 30000);
      await snap(page, 'console');

      // Paste-as-keystrokes types mixed case and shifted symbols.
      await page.getByRole('button', { name: 'Paste text' }).click();
      await page.getByLabel(/Text \(sent as keystrokes/).fill('echo Paste_OK!\n');
      await snap(page, 'console-paste');
      await page.getByRole('button', { name: 'Type it' }).click();
      await waitForScreenText(screenshot, /^[ \t]*Paste.{0,2}OK/m, 30000);

      // A dropped connection: the grace countdown shows, then the page reconnects by itself.
      await page.evaluate(() => window.__sockets.at(-1).close());
      await page.locator('#conn-state', { hasText: 'Disconnected' }).waitFor({ timeout: 10000 });
      await page.locator('#overlay', { hasText: /Without a viewer the VM stops in \d+:\d\d/ }).waitFor({ timeout: 10000 });
      await snap(page, 'console-disconnected');
      await page.locator('#conn-state', { hasText: /^Connected$/ }).waitFor({ timeout: 20000 });
      assert.ok(await page.locator('#overlay').isHidden());
      assert.equal(await page.evaluate(() => window.__sockets.length), 2);

      await page.setViewportSize({ width: 390, height: 844 });
      await snap(page, 'phone-console');
      await page.setViewportSize({ width: 1280, height: 800 });

      // Toolbar: 1:1 scaling, view-only and a screenshot download.
      await page.getByLabel('Scaling').selectOption('1:1');
      await page.getByRole('button', { name: 'View only' }).click();
      assert.equal(await page.getByRole('button', { name: /View only/ }).getAttribute('aria-pressed'), 'true');
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Screenshot' }).click()]);
      assert.match(download.suggestedFilename(), /^vmshare-.*\.png$/);
      assert.deepEqual(page.problems, [], 'console');

      // Back to the dashboard: the running VM with its thumbnail.
      await page.getByRole('link', { name: /Dashboard/ }).first().click();
      await page.waitForURL(`${server.url}/profile`);
      await page.locator('#vm-thumb:not([hidden])').waitFor({ timeout: 20000 });
      assert.equal(await page.locator('#vm-os').textContent(), PROFILE);
      assert.match(await page.locator('#vm-left').textContent(), /min|h|s/);
      await snap(page, 'dashboard-running');

      // Snapshot, when the server has the snapshot routes.
      await t.test('snapshot is taken and listed', { timeout: 150000 }, async (st) => {
        const probe = await page.request.get(`${server.url}/get_user_snapshots`);
        if (probe.status() === 404) { st.skip('GET /get_user_snapshots is not implemented by this server yet'); return; }
        await page.getByRole('button', { name: 'Take snapshot' }).click();
        await page.locator('#snap-list li.snapshot').first().waitFor({ timeout: 140000 });
        assert.match(await page.locator('#quota-text').textContent(), /MB/);
        assert.match(await page.locator('#snap-list li.snapshot').first().getAttribute('data-name'), new RegExp(`__${PROFILE}__`));
        await snap(page, 'dashboard-snapshot');
        const name = await page.locator('#snap-list li.snapshot').first().getAttribute('data-name');
        const download = await page.request.get(`${server.url}/snapshots/${encodeURIComponent(name)}/download`, { headers: { Range: 'bytes=0-3' } });
        assert.equal((await download.body()).toString('latin1'), 'QFI\xfb', 'the download is a qcow2');
        // Delete asks for a second click, then the list and the quota empty.
        const del = page.getByRole('button', { name: `Delete snapshot ${name}` });
        await del.click();
        await page.locator('#snap-list button', { hasText: 'Confirm delete' }).click();
        await page.locator('#snap-empty').waitFor({ state: 'visible' });
        assert.match(await page.locator('#quota-text').textContent(), /^Storage: 0 MB of 300 MB used/);
      });
      assert.deepEqual(page.problems, [], 'dashboard with a VM');

      // Log out: back at sign-in, the token is dead and the VM is gone.
      const qemuOfServer = () => qemuPids(path.join(server.dataDir, 'vms', vmid));
      assert.equal((await qemuOfServer()).length, 1, 'the VM\'s QEMU is not in the process list');
      const token = (await context.cookies()).find((c) => c.name === 'access_token').value;
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL(`${server.url}/`);
      assert.equal((await api(server, 'GET', '/me', { token })).status, 401);
      const gone = Date.now() + 30000;
      while ((await qemuOfServer()).length) {
        assert.ok(Date.now() < gone, 'the VM\'s QEMU still runs after log out');
        await sleep(500);
      }
      assert.deepEqual(page.problems, [], 'log out');
    } finally {
      await context.close();
    }
  });
});
