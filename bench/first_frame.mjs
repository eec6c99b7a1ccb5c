// /run-script to first framebuffer with the real tiny guest (issue 3, item 9), through the whole
// vmshare path: POST /run-script -> /ws/<vmid> open + RFB handshake -> first FramebufferUpdate
// with non-black pixels -> the BusyBox prompt readable on the console (OCR of the RFB framebuffer).
// Each run uses a fresh server and user, so every boot is cold the same way.
//
// Usage: node bench/first_frame.mjs [runs=3]
// Env:   VMSHARE_ACCEL (tcg), VMSHARE_IMAGES (var/images/catalog.json), VMSHARE_BIN (build/vmshare),
//        PROMPT (1; 0: stop at the first frame, skipping the minute-long boot and its OCR)
// The harness finds a VM's QEMU by the sockets it holds in the data folder, so VMSHARE_BIN may
// be a build from before the VM engine v2 as well (A/B runs).
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';

import { RfbClient, openConsoleSocket } from '../tests/e2e/lib/rfb_client.mjs';
import { PROMPT, screenText } from '../tests/e2e/lib/screen_text.mjs';
import { ROOT, api, registerUser, startServer, sleep } from '../tests/e2e/lib/server.mjs';
import { stopServers } from '../tests/e2e/lib/vm_helpers.mjs';

const RUNS = Number(process.argv[2] || 3);
const IMAGES = process.env.VMSHARE_IMAGES || path.join(ROOT, 'var/images/catalog.json');
const ACCEL = process.env.VMSHARE_ACCEL || 'tcg';
const BOOT_MS = 180000;
const PROMPT_TOO = process.env.PROMPT !== '0';

// OCR takes ~1 s a screen here, so the prompt time is that of the framebuffer snapshot OCR later
// matched (taken right after an update), not of the OCR's answer.
async function waitForPrompt(rfb, t0) {
  const deadline = performance.now() + BOOT_MS;
  let text = '';
  while (performance.now() < deadline) {
    await rfb.waitForUpdate(5000).catch(() => {});
    const at = performance.now() - t0;
    text = await screenText(rfb.toPng());
    if (PROMPT.test(text)) return at;
    await sleep(250);
  }
  throw new Error(`no BusyBox prompt within ${BOOT_MS} ms; last OCR:\n${text}`);
}

async function once() {
  const server = await startServer({ env: { VMSHARE_ACCEL: ACCEL, VMSHARE_IMAGES: IMAGES, BCRYPT_COST: '4' } });  // VM uids: the harness's, per data folder
  try {
    const user = await registerUser(server);
    const origin = server.url;
    const t0 = performance.now();
    const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'tiny' } });
    if (res.status !== 200) throw new Error(`/run-script: ${res.status} ${res.text}`);
    const tRun = performance.now() - t0;
    const url = `ws://127.0.0.1:${server.port}${res.body.ws_path ?? `/ws/${res.body.vm.vmid}`}`;
    const rfb = await RfbClient.connect(url, { cookie: user.cookie, token: user.cookie ? undefined : user.token, origin });
    const tHandshake = performance.now() - t0;
    await rfb.waitForUpdate(BOOT_MS, () => rfb.nonBlackPixels() > 0);
    const tFirst = performance.now() - t0;
    const tPrompt = PROMPT_TOO ? await waitForPrompt(rfb, t0) : NaN;
    // The WebSocket upgrade alone, on a second viewer of the now running VM.
    const u0 = performance.now();
    const probe = await openConsoleSocket(url, { cookie: user.cookie, token: user.cookie ? undefined : user.token, origin });
    const tOpen = performance.now() - u0;
    probe.close();
    rfb.close();
    return { run_script_ms: tRun, ws_rfb_handshake_ms: tHandshake, first_nonblack_ms: tFirst, prompt_ms: tPrompt, ws_open_alone_ms: tOpen };
  } finally {
    await stopServers(server);
  }
}

const results = [];
for (let i = 0; i < RUNS; i++) {
  const r = await once();
  results.push(r);
  console.log(`run ${i + 1}: ${Object.entries(r).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' ')} load=${os.loadavg()[0].toFixed(1)}`);
}
const med = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
console.log(`median: ${Object.keys(results[0]).map((k) => `${k}=${med(k).toFixed(0)}`).join(' ')} (accel ${ACCEL})`);
