// Debian's chromium driven by playwright-core, for the page tests. Each page records its console
// errors and uncaught exceptions, so a test can assert that a page ran cleanly.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { ROOT } from './server.mjs';

export const CHROMIUM = process.env.VMSHARE_E2E_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts/pages');

export async function launchBrowser() {
  // Playwright gives every launch a fresh temporary profile; the flags keep chromium from
  // reaching out to the network (only loopback works here) and from prompting.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync'],
  });
}

// A page whose problems accumulate in page.problems: console errors and page errors, except the
// messages `allow` matches (a test expecting a 401 allows the browser's resource-load line).
export async function openPage(context, { allow = [] } = {}) {
  const page = await context.newPage();
  page.problems = [];
  const allowed = (text) => allow.some((re) => re.test(text));
  // The URL goes with it: "Failed to load resource" alone does not say which request failed.
  page.on('console', (m) => {
    if (m.type() !== 'error' || allowed(m.text())) return;
    const url = m.location()?.url;
    page.problems.push(`console: ${m.text()}${url ? ` (${new URL(url).pathname})` : ''}`);
  });
  page.on('pageerror', (e) => { if (!allowed(e.message)) page.problems.push(`pageerror: ${e.message}`); });
  return page;
}

export async function snap(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

// Count of canvas pixels that are not black in the console's noVNC canvas (0 without a canvas).
export function litPixels(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas || !canvas.width || !canvas.height) return 0;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 60) n++;
    return n;
  });
}
