// Load test (issue 7, item 5): many console clients through vmshare's /ws/<vmid> plus API
// traffic, for a fixed time. The VMs are bench/fake_rfb_qemu (installed as VMSHARE_QEMU), which
// answers every framebuffer request at once with a raw 720x400x32 frame, so each console pulls
// frames back to back: the worst case for the bridge, not a typical noVNC session.
//
// Layout: USERS users, one VM each (one VM per user is the policy), VIEWERS consoles per VM
// (several viewers per VM are allowed), so CLIENTS = USERS * VIEWERS. The consoles run in
// build/bench/console_bench --targets (C++, one thread); API_LOOPS loops of GET /me and
// GET /vm/status run meanwhile. vmshare's RSS is sampled every 5 s.
//
// Usage: node bench/load_consoles.mjs   (env: USERS 200, VIEWERS 1, SECONDS 60, API_LOOPS 4,
//        VMSHARE_BIN build/vmshare, BENCH_DIR build/bench)
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { ROOT, api, registerUser, startServer } from '../tests/e2e/lib/server.mjs';

const USERS = Number(process.env.USERS ?? 200);
const VIEWERS = Number(process.env.VIEWERS ?? 1);
const SECONDS = Number(process.env.SECONDS ?? 60);
const API_LOOPS = Number(process.env.API_LOOPS ?? 4);
const BENCH_DIR = process.env.BENCH_DIR ?? path.join(ROOT, 'build/bench');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmshare-load-'));
chmodSync(tmp, 0o755);  // the catalog image is read by every VM's user when vmshare confines QEMU
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(tmp, 'base.qcow2'), '64M']);
writeFileSync(path.join(tmp, 'images.json'), JSON.stringify({ profiles: [
  { name: 'tiny', title: 'Tiny', base_image: path.join(tmp, 'base.qcow2'), memory_mb: 64, cpus: 1 }] }));

const kib = (pid, key = 'VmRSS') => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const pct = (v, q) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// Bounded concurrency for set-up, so registration does not queue hundreds of hashes at once.
async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

const server = await startServer({ storage: 'embedded', env: {
  VMSHARE_QEMU: path.join(BENCH_DIR, 'fake_rfb_qemu'), VMSHARE_IMAGES: path.join(tmp, 'images.json'),
  VMSHARE_ACCEL: 'tcg', VMSHARE_MAX_VMS: String(USERS + 10), VMSHARE_DISCONNECT_GRACE_S: '600',
  BCRYPT_COST: '4',  // set-up speed only; logins are not what this measures
  // VIEWERS consoles per VM (and per user) must fit under the console caps.
  CONSOLE_VIEWERS_PER_VM: String(Math.max(4, VIEWERS)), CONSOLE_VIEWERS_PER_USER: String(Math.max(8, VIEWERS)),
} });
try {
  const pid = server.proc.pid;
  const rssStart = kib(pid);
  const t0 = Date.now();
  const users = await mapLimit(Array.from({ length: USERS }), 8, async () => {
    const u = await registerUser(server);
    const res = await api(server, 'POST', '/run-script', { token: u.token, json: { os_type: 'tiny' }, timeoutMs: 60000 });
    if (res.status !== 200) throw new Error(`/run-script: ${res.status} ${res.text}\n${server.logs().split("\n").filter((l) => /warn|error/.test(l)).slice(-5).join("\n")}`);
    return { ...u, wsPath: res.body.ws_path ?? `/ws/${res.body.vm.vmid}` };
  });
  console.log(`set-up: ${USERS} users and VMs in ${((Date.now() - t0) / 1000).toFixed(1)} s; vmshare RSS ${rssStart} -> ${kib(pid)} KiB`);
  const targets = path.join(tmp, 'targets');
  writeFileSync(targets, users.map((u) => `127.0.0.1:${server.port}${u.wsPath} ${u.cookie}`).join('\n') + '\n');

  const rssBefore = kib(pid);
  const samples = [];
  const sampler = setInterval(() => samples.push({ t: Math.round((Date.now() - tLoad) / 1000), rss: kib(pid), anon: kib(pid, 'RssAnon') }), 5000);
  const tLoad = Date.now();
  const bench = spawn(path.join(BENCH_DIR, 'console_bench'), ['--label', `load_x${USERS * VIEWERS}`, '--targets', targets,
    '--clients', String(USERS * VIEWERS), '--seconds', String(SECONDS), '--origin', server.url, '--report-every', '10'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  let benchOut = '';
  bench.stdout.on('data', (d) => { benchOut += d; process.stdout.write(d); });
  const benchDone = new Promise((resolve) => bench.on('exit', resolve));

  // API traffic: each loop alternates GET /me and GET /vm/status for its own user, kept alive.
  const api_ms = { '/me': [], '/vm/status': [] };
  let apiErrors = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: API_LOOPS });
  const get = (p, cookie) => new Promise((resolve) => {
    const s = process.hrtime.bigint();
    http.get({ host: '127.0.0.1', port: server.port, path: p, headers: { Cookie: cookie }, agent, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) api_ms[p].push(Number(process.hrtime.bigint() - s) / 1e6); else apiErrors++; resolve(); });
    }).on('error', () => { apiErrors++; resolve(); });
  });
  const deadline = tLoad + SECONDS * 1000;
  await Promise.all(Array.from({ length: API_LOOPS }, async (_, i) => {
    const u = users[i % users.length];
    while (Date.now() < deadline) { await get('/me', u.cookie); await get('/vm/status', u.cookie); }
  }));
  const code = await benchDone;
  clearInterval(sampler);
  const rssAfter = kib(pid);
  await new Promise((r) => setTimeout(r, 3000));  // consoles closed: what stays?

  const result = Object.fromEntries(benchOut.trim().split('\n').at(-1).split(' ').filter((p) => p.includes('=')).map((p) => p.split('=')));
  console.log(`\nconsoles: clients=${result.clients} connected=${result.connected} errors=${result.errors} (exit ${code}) ` +
    `total ${Number(result.fps).toFixed(0)} frames/s, per client min ${result.min_client_fps} median ${result.median_client_fps}, ` +
    `frame p50 ${result.p50_ms} ms p99 ${result.p99_ms} ms`);
  for (const [p, v] of Object.entries(api_ms))
    console.log(`${p}: ${v.length} requests, p50 ${pct(v, 0.5).toFixed(2)} ms, p99 ${pct(v, 0.99).toFixed(2)} ms, max ${pct(v, 1).toFixed(2)} ms`);
  console.log(`API errors: ${apiErrors}`);
  console.log(`vmshare RSS (KiB): before load ${rssBefore}; every 5 s: ${samples.map((s) => `${s.t}s ${s.rss}`).join(', ')}; ` +
    `at the end ${rssAfter}; 3 s after the consoles closed ${kib(pid)} (anon ${kib(pid, 'RssAnon')})`);
  console.log(`RSS per open console (mean of the samples minus before): ${((samples.reduce((a, s) => a + s.rss, 0) / samples.length - rssBefore) / (USERS * VIEWERS)).toFixed(0)} KiB`);
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  await server.stop({ keepData: true });
  // VMs outlive a server stop by design; the stand-in QEMUs are found by their data folder.
  for (const line of execFileSync('ps', ['-ww', '-eo', 'pid=,args=']).toString().split('\n')) {
    const m = line.trim().match(/^(\d+)\s+(.*)$/);
    if (m && m[2].includes('fake_rfb_qemu') && m[2].includes(`${server.dataDir}/`)) try { process.kill(Number(m[1]), 'SIGKILL'); } catch { /* gone */ }
  }
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}
