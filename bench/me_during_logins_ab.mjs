// /me latency while 8 logins run, for two or more server variants side by side in one run.
// Every variant gets its own server (embedded storage, BCRYPT_COST 12) and its own user; the
// rounds alternate between them in short segments (the order rotating each round), so the
// other jobs on a shared machine weigh on every variant alike. A segment is: 8 clients run
// POST /login back to back; after 1 s (the hash pool is full) `samples` GET /me on one
// keep-alive connection, 10 ms apart; then the logins stop and the in-flight ones are awaited,
// so no hashing is left running when the next variant's segment starts. Only one server is
// ever busy at a time.
//
// Usage: node bench/me_during_logins_ab.mjs [--rounds 8] [--samples 150] [--logins 8] [--alone]
//          [--busy N] [--others N] [--me-timeout MS] LABEL=BINARY[,KEY=VALUE...] ...
//   e.g. node bench/me_during_logins_ab.mjs before=/tmp/vmshare-before after=build/vmshare
//        node bench/me_during_logins_ab.mjs 2x=build/vmshare,HASH_THREADS=2 1x=build/vmshare,HASH_THREADS=1
// --alone also measures `samples` /me without logins at the start of each segment (the
//   machine's own noise at that moment).
// --busy N runs N busy loops (`sh -c 'while :; do :; done'`, children of this script, so in the
//   servers' session and autogroup, as spinning TCG guests would be) for the whole run;
// --others N the same, each in a session (and autogroup) of its own, as other users' compilers.
//   Both are killed by pid at the end (and if this script exits early).
// --anonymous: each login names a fresh unknown user with a wrong password (a stranger's
//   sign-in: a full bcrypt against the decoy hash, answered 401), instead of the variant's
//   user with the right one (200); the same login name in parallel would meet the per-login
//   limit, which reserves attempts in flight.
// --retry-after: a login answered 429 or 503 waits its Retry-After before the next (as API.md
//   asks of clients), instead of resending at once (a flood of new connections).
// --me-timeout MS: a /me still unanswered after MS counts as MS (censored; the count is printed)
//   and the next one goes on a new connection, so a server that queues /me behind hundreds of
//   sign-ins (e.g. --logins 200 on a binary whose handlers wait for bcrypt) still finishes.
// Per variant it prints: /me p50/p90/p99/max over all its samples, the median of the
// per-segment p99s (and each of them, and its ratio to the first variant's), logins per second
// while /me was measured, and login latency (p50 / max): a login that starves shows up there.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { rmSync } from 'node:fs';
import os from 'node:os';

import { api, freePort, prepareEnv, registerUser, sleep } from '../tests/e2e/lib/server.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const ROUNDS = opt('rounds', 8);
const SAMPLES = opt('samples', 150);
const LOGINS = opt('logins', 8);
const BUSY = opt('busy', 0);
const OTHERS = opt('others', 0);
const ME_TIMEOUT = opt('me-timeout', 0);
const ANONYMOUS = args.includes('--anonymous') ? (args.splice(args.indexOf('--anonymous'), 1), true) : false;
const POLITE = args.includes('--retry-after') ? (args.splice(args.indexOf('--retry-after'), 1), true) : false;
const ALONE = args.includes('--alone') ? (args.splice(args.indexOf('--alone'), 1), true) : false;
const specs = args.map((a) => {
  const m = /^([^=]+)=([^,]+)(?:,(.*))?$/.exec(a);
  if (!m) throw new Error(`bad variant '${a}': LABEL=BINARY[,KEY=VALUE...]`);
  const env = Object.fromEntries((m[3] ? m[3].split(',') : []).map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
  return { label: m[1], bin: m[2], env };
});
if (specs.length < 1) throw new Error('give at least one LABEL=BINARY variant');

// Servers and busy loops, killed (by pid) however this script ends.
const children = new Set();
process.on('exit', () => { for (const c of children) if (c.exitCode === null) try { c.kill('SIGKILL'); } catch { /* gone */ } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => x.toFixed(2);

async function start(spec) {
  const port = await freePort();
  const prepared = await prepareEnv({ storage: 'embedded', env: { PORT: String(port), BCRYPT_COST: '12', ...spec.env } });
  const proc = spawn(spec.bin, [], { env: prepared.env, stdio: 'ignore' });
  children.add(proc);
  let exited = false;
  const exit = new Promise((resolve) => proc.on('exit', () => { exited = true; resolve(); }));
  const server = { port, proc, exit, dataDir: prepared.dataDir, cleanup: prepared.cleanup };
  for (let t0 = Date.now(); ; await sleep(50)) {
    if (exited) throw new Error(`${spec.label}: ${spec.bin} exited during start-up`);
    if (Date.now() - t0 > 20000) throw new Error(`${spec.label}: no HTTP answer within 20 s`);
    try { await api(server, 'GET', '/me', { timeoutMs: 1000 }); break; } catch { /* not yet */ }
  }
  const user = await registerUser(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return { ...spec, server, user, agent, me: [], p99s: [], alone: [], aloneP99s: [], logins: 0, loginSecs: 0, loginMs: [], failures: 0, statuses: {}, censored: 0 };
}

function getMe(v) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let timer;
    const req = http.get({ host: '127.0.0.1', port: v.server.port, path: '/me', headers: { Cookie: v.user.cookie }, agent: v.agent }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        if (res.statusCode === 200) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
        else reject(new Error(`${v.label}: /me ${res.statusCode}`));
      });
    });
    req.on('error', (e) => { if (!req.censored) reject(e); });
    if (ME_TIMEOUT) {
      timer = setTimeout(() => {
        req.censored = true;
        req.destroy();
        v.censored++;
        resolve(ME_TIMEOUT);
      }, ME_TIMEOUT);
    }
  });
}

async function measure(v) {
  const ms = [];
  for (let i = 0; i < SAMPLES; i++) {
    ms.push(await getMe(v));
    await sleep(10);
  }
  return ms.sort((a, b) => a - b);
}

async function segment(v) {
  if (ALONE) {
    const ms = await measure(v);
    v.alone.push(...ms);
    v.aloneP99s.push(pct(ms, 0.99));
  }
  let running = true;
  const loop = async () => {
    while (running) {
      const t0 = Date.now();
      const json = ANONYMOUS ? { username: `anon_${Math.random().toString(36).slice(2, 12)}`, password: 'not the password' }
        : { username: v.user.login, password: v.user.password };
      const res = await api(v.server, 'POST', '/login', { json, timeoutMs: 120000 });
      v.statuses[res.status] = (v.statuses[res.status] ?? 0) + 1;
      if (res.status === (ANONYMOUS ? 401 : 200)) { v.logins++; v.loginMs.push(Date.now() - t0); } else v.failures++;
      const wait = Number(res.headers['retry-after']);
      if (POLITE && (res.status === 429 || res.status === 503) && wait > 0) {
        for (const end = Date.now() + wait * 1000; running && Date.now() < end;) await sleep(Math.min(200, end - Date.now()));
      }
    }
  };
  const loops = Array.from({ length: LOGINS }, loop);
  await sleep(1000);  // let the hash pool fill up
  const t0 = Date.now(), before = v.logins;
  const ms = await measure(v);
  v.loginSecs += (Date.now() - t0) / 1000;
  const completed = v.logins - before;
  running = false;
  await Promise.all(loops);
  v.logins = before + completed;  // count only logins that completed while /me was measured
  v.me.push(...ms);
  v.p99s.push(pct(ms, 0.99));
}

const busy = [];
const variants = [];
try {
  for (let i = 0; i < BUSY + OTHERS; i++) {
    busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore', detached: i >= BUSY }));
    children.add(busy.at(-1));
  }
  for (const spec of specs) variants.push(await start(spec));
  for (const v of variants) for (let i = 0; i < 30; i++) await getMe(v);  // warm-up
  console.log(`${variants.length} variants, ${ROUNDS} rounds of ${SAMPLES} /me each during ${LOGINS} logins${BUSY ? `, ${BUSY} busy loops` : ''}${OTHERS ? `, ${OTHERS} busy loops in sessions of their own` : ''}`);
  for (let r = 0; r < ROUNDS; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    const line = [];
    for (const v of order) {
      await segment(v);
      line.push(`${v.label} ${fmt(v.p99s.at(-1))}`);
    }
    console.log(`round ${r + 1} (load ${os.loadavg()[0].toFixed(1)}): /me p99 ${line.join(', ')} ms`);
  }
  console.log('');
  const base = variants[0];
  for (const v of variants) {
    const all = [...v.me].sort((a, b) => a - b);
    const logins = [...v.loginMs].sort((a, b) => a - b);
    const ratio = v === base ? '' : ` (${(median(v.p99s) / median(base.p99s)).toFixed(2)}x ${base.label})`;
    const alone = [...v.alone].sort((a, b) => a - b);
    if (ALONE) console.log(`${v.label} alone: /me p50 ${fmt(pct(alone, 0.5))} p90 ${fmt(pct(alone, 0.9))} p99 ${fmt(pct(alone, 0.99))} max ${fmt(alone.at(-1))} ms over ${alone.length}; median segment p99 ${fmt(median(v.aloneP99s))} ms`);
    console.log(`${v.label}: /me p50 ${fmt(pct(all, 0.5))} p90 ${fmt(pct(all, 0.9))} p99 ${fmt(pct(all, 0.99))} max ${fmt(all.at(-1))} ms over ${all.length}; ` +
      `median segment p99 ${fmt(median(v.p99s))} ms${ratio} [${v.p99s.map(fmt).join(' ')}]; ` +
      `logins ${(v.logins / v.loginSecs).toFixed(1)}/s, login latency p50 ${pct(logins, 0.5)} max ${logins.at(-1)} ms, non-200 ${v.failures}; ` +
      `login answers ${JSON.stringify(v.statuses)}${ME_TIMEOUT ? `; /me censored at ${ME_TIMEOUT} ms: ${v.censored}` : ''}`);
  }
} finally {
  for (const b of busy) b.kill('SIGKILL');
  for (const v of variants) {
    v.agent.destroy();
    v.server.proc.kill('SIGTERM');
  }
  for (const v of variants) {
    await Promise.race([v.server.exit, sleep(15000)]);
    v.server.proc.kill('SIGKILL');
    await v.server.cleanup();
    rmSync(v.server.dataDir, { recursive: true, force: true });
  }
}
