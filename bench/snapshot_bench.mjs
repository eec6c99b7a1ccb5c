// Snapshot of the running tiny guest: how long POST /snapshot takes, and whether the guest
// stalls meanwhile. QMP belongs to the server, so the guest is probed from outside: keys are
// typed over RFB ('x', then BackSpace, ...) and the time until the echoed glyph is drawn is
// measured, before and during each snapshot. Echo needs the guest's CPU (the tty echoes it), so
// a paused guest shows up as a gap; the VGA cursor blink does not count (QEMU draws it even for
// a paused guest), hence only the glyph scanlines of each 16-pixel text row are compared.
// Usage: node bench/snapshot_bench.mjs [rounds=5]   (VMSHARE_ACCEL defaults to tcg)
import { RfbClient, KEY } from '../tests/e2e/lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from '../tests/e2e/lib/screen_text.mjs';
import { api, registerUser, sleep } from '../tests/e2e/lib/server.mjs';
import { consoleUrl, launch, startVmServer, stopServers } from '../tests/e2e/lib/vm_helpers.mjs';

const ROUNDS = Number(process.argv[2] ?? 5);
const GLYPH_ROWS = 13;  // scanlines 0-12 of a 16-line cell: glyphs, never the underline cursor

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const max = (xs) => xs.reduce((m, x) => Math.max(m, x), 0);
const fmt = (xs) => `n=${xs.length} p50 ${median(xs).toFixed(0)} ms, max ${max(xs).toFixed(0)} ms`;

function glyphsChanged(before, rfb) {
  const w = rfb.width * 4;
  for (let y = 0; y < rfb.height; y++) {
    if (y % 16 >= GLYPH_ROWS) continue;
    if (before.compare(rfb.fb, y * w, (y + 1) * w, y * w, (y + 1) * w) !== 0) return true;
  }
  return false;
}

// Presses `keysym` and resolves the ms until the guest's echo is on the framebuffer.
async function echoMs(rfb, keysym) {
  const before = Buffer.from(rfb.fb);
  const t0 = performance.now();
  const seen = rfb.waitForUpdate(10000, () => glyphsChanged(before, rfb));
  rfb.key(keysym, true);
  rfb.key(keysym, false);
  await seen;
  return performance.now() - t0;
}

// Probes until stop() is called; resolves [{at, ms}] (at: when the key was sent).
function probeLoop(rfb) {
  let running = true;
  const samples = [];
  const done = (async () => {
    for (let i = 0; running; i++) {
      const at = performance.now();
      samples.push({ at, ms: await echoMs(rfb, i % 2 ? KEY.BackSpace : 0x78) });
      await sleep(30);
    }
    return samples;
  })();
  return { stop: () => { running = false; return done; } };
}

const server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } });
try {
  const user = await registerUser(server);
  const vmid = await launch(server, user);
  const rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
  await waitForScreenText(async () => rfb.toPng(), PROMPT, 180000);
  console.log(`guest at the prompt; console ${rfb.width}x${rfb.height}`);

  const baseline = probeLoop(rfb);
  await sleep(5000);
  const idle = (await baseline.stop()).map((s) => s.ms);
  console.log(`echo latency, no snapshot:      ${fmt(idle)}`);

  const totals = [], during = [];
  for (let r = 0; r < ROUNDS; r++) {
    const probes = probeLoop(rfb);
    await sleep(500);
    const t0 = performance.now();
    const res = await api(server, 'POST', '/snapshot', { token: user.token, json: {}, timeoutMs: 600000 });
    const t1 = performance.now();
    await sleep(300);
    const samples = await probes.stop();
    if (res.status !== 200) throw new Error(`snapshot: ${res.status} ${res.text}`);
    totals.push(t1 - t0);
    // Probes whose key was sent while the snapshot ran, or whose echo was still due when it started.
    const inWindow = samples.filter((s) => s.at <= t1 && s.at + s.ms >= t0).map((s) => s.ms);
    during.push(...inWindow);
    console.log(`round ${r + 1}: POST /snapshot ${(t1 - t0).toFixed(0)} ms, ${res.body.size_mb} MB; echo during it: ${fmt(inWindow)}`);
    const removed = await api(server, 'POST', '/remove_snapshot', { token: user.token, json: { snapshot: res.body.snapshot } });
    if (removed.status !== 200) throw new Error(`remove: ${removed.status} ${removed.text}`);
  }
  const written = [...server.logs().matchAll(/written in ([\d.]+) s while the VM kept running/g)].map((m) => Number(m[1]) * 1000);
  console.log(`POST /snapshot: median ${median(totals).toFixed(0)} ms, min ${Math.min(...totals).toFixed(0)}, max ${max(totals).toFixed(0)} (n=${totals.length})`);
  console.log(`server log "written in": median ${median(written).toFixed(0)} ms (n=${written.length})`);
  console.log(`echo latency during snapshots: ${fmt(during)}; without: ${fmt(idle)}`);
  rfb.close();
} finally {
  await stopServers(server);
}
