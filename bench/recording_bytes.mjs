// A recording's bytes per minute for an idle and a busy tiny-guest console (issue 15 item 2):
// boots the real tiny guest, waits for its shell, records SECONDS of an idle prompt, then SECONDS
// of a console scrolling without pause (`while :; do ls -l /bin; done`), and prints each
// recording's size scaled to a minute. Hextile keeps an idle text console at its periodic full
// frames (RECORDING_FULL_FRAME_S) and little else; scrolling text repaints most of the screen
// at up to ~10 updates/s.
//
// Usage: node bench/recording_bytes.mjs [seconds=60]
// Env:   VMSHARE_ACCEL (tcg), VMSHARE_IMAGES (var/images/catalog.json), VMSHARE_BIN (build/vmshare)
import path from 'node:path';

import { RfbClient } from '../tests/e2e/lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from '../tests/e2e/lib/screen_text.mjs';
import { ROOT, api, registerUser, sleep, startServer } from '../tests/e2e/lib/server.mjs';
import { screenshotOf, stopServers } from '../tests/e2e/lib/vm_helpers.mjs';

const SECONDS = Number(process.argv[2] || 60);
const IMAGES = process.env.VMSHARE_IMAGES || path.join(ROOT, 'var/images/catalog.json');

async function record(server, user, seconds) {
  const on = await api(server, 'POST', '/vm/recording', { token: user.token, json: { on: true } });
  if (on.status !== 200) throw new Error(`recording on: ${on.status} ${on.text}`);
  await sleep(seconds * 1000);
  const off = await api(server, 'POST', '/vm/recording', { token: user.token, json: { on: false } });
  if (off.status !== 200) throw new Error(`recording off: ${off.status} ${off.text}`);
  const rec = off.body.last;
  const file = await api(server, 'GET', `/recordings/${rec.id}/download`, { token: user.token, timeoutMs: 60000 });
  const bytes = Number(file.headers['content-length']);
  return { bytes, duration_ms: rec.duration_ms, per_minute: Math.round((bytes * 60000) / rec.duration_ms) };
}

const server = await startServer({ env: { VMSHARE_IMAGES: IMAGES, VMSHARE_ACCEL: process.env.VMSHARE_ACCEL || 'tcg',
  RECORDING_MAX_MB: '1024', VMSHARE_DISCONNECT_GRACE_S: '3600' } });
try {
  const user = await registerUser(server);
  await runVmshareQuota(server, user);
  const run = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'tiny' }, timeoutMs: 120000 });
  if (run.status !== 200) throw new Error(`run-script: ${run.status} ${run.text}`);
  const vmid = run.body.vm.vmid;
  await waitForScreenText(screenshotOf(server, user), PROMPT, 240000);
  const idle = await record(server, user, SECONDS);
  console.log(`idle: ${idle.bytes} bytes in ${idle.duration_ms} ms = ${idle.per_minute} bytes/min`);
  const rfb = await RfbClient.connect(`ws://127.0.0.1:${server.port}/ws/${vmid}`, { token: user.token, origin: server.url });
  await rfb.typeText('while :; do ls -l /bin; done\n');
  await sleep(2000);
  const busy = await record(server, user, SECONDS);
  console.log(`busy: ${busy.bytes} bytes in ${busy.duration_ms} ms = ${busy.per_minute} bytes/min`);
  rfb.close();
} finally {
  await stopServers(server);
}

// A 1 GiB recording needs the quota for it.
async function runVmshareQuota(s, user) {
  const { runVmshare } = await import('../tests/e2e/lib/server.mjs');
  const r = await runVmshare(['user', 'set-quota', user.login, '4096'], { env: s.env });
  if (r.code !== 0) throw new Error(`set-quota: ${r.stderr}`);
}
