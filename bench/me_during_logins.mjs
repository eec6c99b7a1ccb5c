// /me latency while 8 logins run at once, continuously (bcrypt at the default cost 12).
// bcrypt must never run on the I/O threads: if it did, /me would queue behind the hashes.
// Usage: node bench/me_during_logins.mjs [samples=400]
import http from 'node:http';
import { readFileSync } from 'node:fs';

import { api, registerUser, startServer } from '../tests/e2e/lib/server.mjs';

const SAMPLES = Number(process.argv[2] ?? 400);
const LOGINS = 8;

// Anonymous (heap, stacks) vs file-backed (the binary and shared libraries, mostly shared pages).
const rss = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return ['VmRSS', 'RssAnon', 'RssFile'].map((k) => `${k} ${new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]} kB`).join('  ');
};
// One kept-alive connection, so the figures are the server's latency, not TCP set-up.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function getMe(server, cookie) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    http.get({ host: '127.0.0.1', port: server.port, path: '/me', headers: { Cookie: cookie }, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6)
        : reject(new Error(`/me ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function measure(server, cookie, n) {
  const ms = [];
  // Spaced 10 ms apart so the samples span several rounds of cost-12 hashes (~0.2 s each).
  for (let i = 0; i < n; i++) {
    ms.push(await getMe(server, cookie));
    await new Promise((r) => setTimeout(r, 10));
  }
  ms.sort((a, b) => a - b);
  const pick = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  return `p50 ${pick(0.5).toFixed(2)} ms, p99 ${pick(0.99).toFixed(2)} ms, max ${ms.at(-1).toFixed(2)} ms (${n} requests)`;
}

const server = await startServer({ storage: 'embedded', env: { BCRYPT_COST: '12' } });
try {
  await new Promise((r) => setTimeout(r, 500));
  console.log(`server pid ${server.proc.pid}; idle RSS after start-up: ${rss(server.proc.pid)}`);
  const user = await registerUser(server);
  await measure(server, user.cookie, 50);  // warm-up
  console.log(`/me alone:               ${await measure(server, user.cookie, SAMPLES)}`);

  let running = true, logins = 0, failures = 0;
  const loop = async () => {
    while (running) {
      const res = await api(server, 'POST', '/login', { json: { username: user.login, password: user.password }, timeoutMs: 60000 });
      if (res.status === 200) logins++; else failures++;
    }
  };
  const loops = Array.from({ length: LOGINS }, loop);
  await new Promise((r) => setTimeout(r, 1000));  // let the hash pool fill up
  const t0 = Date.now(), before = logins;
  const during = await measure(server, user.cookie, SAMPLES);
  const secs = (Date.now() - t0) / 1000;
  running = false;
  await Promise.all(loops);
  console.log(`/me during ${LOGINS} logins: ${during}`);
  console.log(`logins completed meanwhile: ${logins - before} in ${secs.toFixed(1)} s (${((logins - before) / secs).toFixed(1)}/s), non-200: ${failures}`);
  await new Promise((r) => setTimeout(r, 1000));
  console.log(`idle RSS after the benchmark: ${rss(server.proc.pid)}`);
} finally {
  agent.destroy();
  await server.stop();
}
