// Harness for end-to-end tests: starts the real vmshare binary on a free loopback port with its
// own data folder and storage, and offers small HTTP client helpers. Used by every e2e test file.
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { killAll, vmProcessesOf, vmProcessesOfSync } from './vm_processes.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.VMSHARE_BIN || path.join(ROOT, 'build/vmshare');
// embedded: SQLite + in-process sessions; production: PostgreSQL + Redis from scripts/services.sh.
export const STORAGE = process.env.VMSHARE_E2E_STORAGE || 'embedded';
if (!['embedded', 'production'].includes(STORAGE))
  throw new Error(`VMSHARE_E2E_STORAGE must be embedded or production, not ${STORAGE}`);

const run = promisify(execFile);
const live = new Set();
// Data folders not yet removed -> the VM uid base their servers used: VMs outlive a server by
// design, so whatever a test leaves running there is ended when this test file's process exits.
const folders = new Map();
// A crashed test run must not leave servers or VMs behind holding ports and data folders.
process.on('exit', () => {
  for (const p of live) try { p.kill('SIGKILL'); } catch { /* gone */ }
  for (const [dataDir, uidBase] of folders) try { killAll(vmProcessesOfSync({ dataDir, uidBase })); } catch { /* no ss or ps */ }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const randomSuffix = (n = 5) => randomBytes(n).toString('hex');
// Production storage is shared by every test run, so login names must never repeat.
export const uniqueLogin = (prefix = 'u') => `${prefix}_${randomSuffix()}`;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Keys the parent may hold that would make a test depend on the caller's shell.
const HERMETIC = new Set(['PORT', 'DATABASE_URL', 'REDIS_URL', 'SECRET_KEY', 'RECAPTCHA_SECRET',
  'RECAPTCHA_VERIFY_URL', 'RECAPTCHA_SITE_KEY', 'VMSHARE_DATA_DIR', 'VMSHARE_HOST', 'COOKIE_SECURE']);
// The server refuses unknown VMSHARE_* keys; these belong to the test tooling, not to it.
const TOOLING = /^VMSHARE_(E2E_|BIN$|SERVICES_DIR$)/;

export function baseEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!HERMETIC.has(k) && !TOOLING.test(k)) env[k] = v;
  return env;
}

function requireEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: source scripts/services.sh && services_start first`);
  return v;
}

// A fresh PostgreSQL schema per server, so runs and servers never see each other's users.
// Exported for clusters: their nodes share one (pass it to startServer as `sharedStore`).
export async function productionStorage() {
  const dbUrl = requireEnv('VMSHARE_TEST_DATABASE_URL');
  const redisUrl = requireEnv('VMSHARE_TEST_REDIS_URL');
  const schema = `e2e_${randomSuffix(6)}`;
  await run('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE SCHEMA ${schema}`], { timeout: 15000 });
  const sep = dbUrl.includes('?') ? '&' : '?';
  // A Redis database of its own too: user ids restart at 1 in each schema, and the session keys
  // an earlier server left behind (user:<id>:...) would otherwise show its VMs to this one's users.
  const counter = await run('redis-cli', ['-u', redisUrl, 'INCR', 'e2e:next_db'], { timeout: 5000 });
  const db = 1 + ((Number(counter.stdout.trim()) - 1) % 1023);
  await run('redis-cli', ['-u', `${redisUrl}/${db}`, 'FLUSHDB'], { timeout: 5000 });
  return {
    env: { DATABASE_URL: `${dbUrl}${sep}options=-csearch_path%3D${schema}`, REDIS_URL: `${redisUrl}/${db}` },
    async cleanup() {
      // Best effort: PostgreSQL may be down after an outage test; services_stop removes it all anyway.
      await run('psql', [dbUrl, '-qc', `DROP SCHEMA IF EXISTS ${schema} CASCADE`], { timeout: 5000 }).catch(() => {});
    },
  };
}

// Each data folder's VMs get a uid range of their own (1024 uids), the same on every restart:
// vmshare ends every process of a VM uid before a launch uses it, so servers of one test run
// sharing the default range would end each other's VMs (and should never share uids anyway).
export function vmUidBaseFor(dataDir) {
  const h = createHash('sha256').update(dataDir).digest().readUInt32BE(0);
  return String(1000000000 + (h % 2000000) * 1024);
}

// The environment a server (or an admin command sharing its storage) runs with.
// sharedStore: storage from productionStorage() that several servers use (a cluster's nodes); its
// owner cleans it up, not each server. host: the loopback address to listen on.
export async function prepareEnv({ storage = STORAGE, env = {}, dataDir, sharedStore, host = '127.0.0.1' } = {}) {
  dataDir ??= mkdtempSync(path.join(os.tmpdir(), 'vmshare-e2e-'));
  const store = sharedStore ? { env: sharedStore.env, cleanup: async () => {} }
    : storage === 'production' ? await productionStorage() : { env: {}, cleanup: async () => {} };
  const merged = {
    ...baseEnv(),
    VMSHARE_HOST: host,
    VMSHARE_DATA_DIR: dataDir,
    COOKIE_SECURE: 'false',
    BCRYPT_COST: '4',  // fast tests; the benchmark uses the default cost
    // Every test signs up and fails logins from 127.0.0.1; throttle.test.mjs sets its own limits.
    LOGIN_ADDRESS_MAX_FAILURES: '1000000',
    SIGNUP_PER_ADDRESS_PER_HOUR: '1000000',
    SIGNUP_PER_HOUR: '10000000',
    VMSHARE_VM_UID_BASE: vmUidBaseFor(dataDir),
    ...store.env,
    ...env,
  };
  // A key given as undefined is removed, so a test can leave it to a --config file.
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return { dataDir, cleanup: store.cleanup, env: merged };
}

// Runs the binary to completion (admin commands, start-up failures).
export function runVmshare(args, { env = baseEnv(), input, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`vmshare ${args.join(' ')} timed out\n${stdout}${stderr}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    // A command that never reads stdin may exit first: EPIPE then is not the test's concern.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

// Starts vmshare and resolves once it answers HTTP.
// opts: {env, args, storage, dataDir, readyTimeoutMs, wrap}; wrap: a command (array) vmshare runs
// under, e.g. tests/e2e/lib/hidden_proc.sh; it must exec, so the pid stays vmshare's.
export async function startServer(opts = {}) {
  // opts.port with env {PORT: undefined}: the port comes from elsewhere (a --config file).
  const port = opts.port ?? (opts.env?.PORT ? Number(opts.env.PORT) : await freePort());
  const prepared = await prepareEnv({ ...opts, env: { PORT: String(port), ...opts.env } });
  const { dataDir, env } = prepared;
  folders.set(dataDir, env.VMSHARE_VM_UID_BASE);
  const [command, ...prefix] = [...(opts.wrap ?? []), BIN];
  const proc = spawn(command, [...prefix, ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const chunks = [];
  const keep = (d) => { chunks.push(d.toString()); if (chunks.length > 5000) chunks.splice(0, 1000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
  let exitInfo = null;
  exited.then((info) => { exitInfo = info; });

  const host = opts.host ?? '127.0.0.1';
  const server = {
    url: `http://${host}:${port}`,
    host,
    port,
    dataDir,
    env,
    proc,
    storage: opts.storage ?? STORAGE,
    logs: () => chunks.join(''),
    exited,
    // The VMs' processes this server started (real or fake QEMU), found by data folder and uid.
    vmProcesses: () => vmProcessesOf({ dataDir, uidBase: env.VMSHARE_VM_UID_BASE, exclude: [proc.pid] }),
    // SIGTERM, then SIGKILL after 15 s; resolves {code, signal, ms}. VMs survive it by design, so
    // keepData leaves them for a server restarted on the folder; otherwise they end with it.
    async stop({ keepData = false } = {}) {
      const t0 = Date.now();
      if (!exitInfo) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(killer);
      }
      const info = await exited;
      if (!keepData) {
        killAll(await server.vmProcesses());
        await prepared.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
        folders.delete(dataDir);
      }
      return { ...info, ms: Date.now() - t0 };
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20000);
  for (;;) {
    if (exitInfo) {
      await server.stop();
      throw new Error(`vmshare exited during start-up (${JSON.stringify(exitInfo)}):\n${server.logs()}`);
    }
    try {
      await api(server, 'GET', '/me', { timeoutMs: 1000 });
      return server;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`vmshare did not answer HTTP within the start-up timeout:\n${server.logs()}`);
    }
    await sleep(50);
  }
}

// One HTTP request on a fresh connection (no pooling, so tests never share sockets).
// The path is sent exactly as given, so tests can send what a URL parser would normalise away.
// Resolves {status, headers, body (parsed JSON or text), text, raw (the bytes, for binary bodies)}.
export function api(server, method, urlPath, { json, form, body, token, cookie, headers = {}, timeoutMs = 15000 } = {}) {
  const h = { ...headers };
  let payload = body;
  if (json !== undefined) { payload = JSON.stringify(json); h['Content-Type'] ??= 'application/json'; }
  if (form !== undefined) { payload = new URLSearchParams(form).toString(); h['Content-Type'] ??= 'application/x-www-form-urlencoded'; }
  if (token) h.Authorization = `Bearer ${token}`;
  if (cookie) h.Cookie = cookie;
  if (payload !== undefined) h['Content-Length'] = Buffer.byteLength(payload);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host ?? '127.0.0.1', port: server.port, method, path: urlPath, headers: h, agent: false, timeout: timeoutMs }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(parts);
        const text = raw.toString();
        let parsed = text;
        if ((res.headers['content-type'] || '').includes('json')) {
          try { parsed = JSON.parse(text); } catch { /* leave as text: the test will say so */ }
        }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed, text, raw });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// The access_token cookie from a response, as a Cookie request header ("access_token=...").
export function cookieFrom(res) {
  const line = (res.headers['set-cookie'] || []).find((c) => c.startsWith('access_token='));
  return line ? line.split(';')[0] : undefined;
}

// Registers a new user; throws unless the server says 200.
export async function registerUser(server, login = uniqueLogin(), password = `pw-${randomSuffix(8)}`) {
  const res = await api(server, 'POST', '/register', { json: { login, password, g_recaptcha_response: '' } });
  if (res.status !== 200) throw new Error(`register ${login}: ${res.status} ${res.text}`);
  return { id: res.body.id, login, password, token: res.body.access_token, cookie: cookieFrom(res) };
}

// Sends raw bytes on one TCP connection and resolves with everything the server sent back
// until it closed (or timeoutMs passed: then {closed:false}).
export function rawRequest(server, data, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ text: out, closed: false }); }, timeoutMs);
    sock.on('data', (d) => { out += d; });
    sock.on('error', (e) => { if (e.code !== 'ECONNRESET') { clearTimeout(timer); reject(e); } });
    sock.on('close', () => { clearTimeout(timer); resolve({ text: out, closed: true }); });
    sock.write(data);
  });
}

// Status and headers of a raw HTTP/1.1 response text.
export function parseRaw(text) {
  const [head] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = {};
  for (const l of lines) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(head.length + 4) };
}
