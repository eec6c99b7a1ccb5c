// deploy/nginx.conf for real: Debian's nginx with a throwaway self-signed certificate on loopback,
// in front of a vmshare with COOKIE_SECURE=true. Sign-up and sign-in, a console over wss://, an
// ISO upload streamed through, the http->https redirect, /metrics judged by the real client, Grafana Live.
// The site file is used as shipped; only listen ports, names, certificate paths and upstream
// ports are substituted (renderSite fails loudly if one of those lines changes).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import WebSocket, { WebSocketServer } from 'ws';

import { RfbClient, openConsoleSocket } from './lib/rfb_client.mjs';
import { ROOT, cookieFrom, freePort, randomSuffix, uniqueLogin } from './lib/server.mjs';
import { startVmServer, stopServers, waitFor } from './lib/vm_helpers.mjs';

const run = promisify(execFile);
const NGINX = process.env.VMSHARE_E2E_NGINX || '/usr/sbin/nginx';
const SITE = path.join(ROOT, 'deploy/nginx.conf');
const GRUB_ISO = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';
const HOST = '127.0.0.1';
const METRICS_TOKEN = 'nginx-e2e-metrics-token';

// deploy/nginx.conf with the test's ports and paths. Each `from` must be in the file.
function renderSite(text, { httpPort, tlsPort, vmsharePort, cert, key }) {
  const subs = [
    ['/etc/letsencrypt/live/vmshare.example.com/fullchain.pem', cert],
    ['/etc/letsencrypt/live/vmshare.example.com/privkey.pem', key],
    ['server_name vmshare.example.com;', `server_name ${HOST};`],
    ['listen 80;', `listen ${HOST}:${httpPort};`],
    ['listen 443 ssl http2;', `listen ${HOST}:${tlsPort} ssl http2;`],
    // Loopback IPv4 only: the test host may have no IPv6, and nothing else may reach the test.
    ['listen [::]:80;', '# listen [::]:80; (IPv4 loopback only in the test)'],
    ['listen [::]:443 ssl http2;', '# listen [::]:443 (IPv4 loopback only in the test)'],
    ['server 127.0.0.1:8000;', `server 127.0.0.1:${vmsharePort};`],
  ];
  for (const [from, to] of subs) {
    if (!text.includes(from)) throw new Error(`deploy/nginx.conf no longer contains "${from}": update renderSite`);
    text = text.replaceAll(from, to);
  }
  return text;
}

// What Debian's /etc/nginx/nginx.conf provides around a site file, with every path in `dir`.
function mainConfig(dir) {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/vmshare-site.conf;
}
`;
}

// multipart/form-data with one file field, as the upload page sends it.
function multipart(data, filename = 'grub-rescue.iso') {
  const boundary = '----vmshareNginx' + randomBytes(8).toString('hex');
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n', 'latin1'),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');

describe('nginx in front of vmshare (deploy/nginx.conf)', () => {
  let dir, cert, nginx, nginxExit, server, grafana, httpPort, tlsPort, origin, user, realTlsConnect;
  const grafanaSeen = [];
  const nginxLog = () => (existsSync(`${dir}/error.log`) ? readFileSync(`${dir}/error.log`, 'utf8') : '');

  // One HTTPS request on a fresh connection, verifying the certificate against our own CA.
  function request(method, urlPath, { json, body, cookie, token, headers = {}, timeoutMs = 30000 } = {}) {
    const h = { ...headers };
    let payload = body;
    if (json !== undefined) { payload = Buffer.from(JSON.stringify(json)); h['Content-Type'] ??= 'application/json'; }
    if (cookie) h.Cookie = cookie;
    if (token) h.Authorization = `Bearer ${token}`;
    if (payload !== undefined) h['Content-Length'] = payload.length;
    return new Promise((resolve, reject) => {
      const req = https.request({ host: HOST, port: tlsPort, method, path: urlPath, headers: h, ca: cert, agent: false, timeout: timeoutMs }, (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          let parsed = text;
          if ((res.headers['content-type'] || '').includes('json')) try { parsed = JSON.parse(text); } catch { /* text */ }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
  const browserish = (extra = {}) => ({ cookie: user.cookie, headers: { Origin: origin, ...extra } });

  before(async () => {
    assert.ok(existsSync(NGINX), `${NGINX} is missing: apt-get install nginx`);
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-nginx-'));
    chmodSync(dir, 0o755);  // nginx's workers (an unprivileged user under root) use the temp folders
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=IP:${HOST},DNS:localhost`,
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { timeout: 30000 });
    cert = readFileSync(`${dir}/cert.pem`);

    // ws (inside RfbClient) offers no TLS options: trust our CA for connections to this nginx
    // only, rather than turning certificate checks off for the whole process.
    realTlsConnect = tls.connect;
    const connect = realTlsConnect;
    tls.connect = function (...args) {
      const o = args[0];
      if (o && typeof o === 'object' && Number(o.port) === tlsPort && !o.ca) o.ca = cert;
      return connect.apply(this, args);
    };

    // Grafana stand-in for Live (GRAFANA_URL): records the upgrade it got, echoes messages.
    grafana = new WebSocketServer({ host: HOST, port: 0 });
    grafana.on('connection', (ws, req) => {
      grafanaSeen.push({ url: req.url, cookie: req.headers.cookie ?? '' });
      ws.on('message', (m) => ws.send(`echo:${m}`));
    });
    await new Promise((r) => grafana.once('listening', r));

    server = await startVmServer({
      env: { COOKIE_SECURE: 'true', VMSHARE_DISCONNECT_GRACE_S: '600', METRICS_TOKEN, GRAFANA_URL: `http://${HOST}:${grafana.address().port}` },
    });
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    while (tlsPort === httpPort) tlsPort = await freePort();
    origin = `https://${HOST}:${tlsPort}`;
    writeFileSync(`${dir}/vmshare-site.conf`, renderSite(readFileSync(SITE, 'utf8'), {
      httpPort, tlsPort, vmsharePort: server.port, cert: `${dir}/cert.pem`, key: `${dir}/key.pem`,
    }));
    writeFileSync(`${dir}/nginx.conf`, mainConfig(dir));

    const args = ['-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`];
    const check = await run(NGINX, ['-t', ...args]).catch((e) => e);
    assert.ok(!(check instanceof Error), `nginx -t: ${check.stderr ?? check}`);
    nginx = spawn(NGINX, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    // A crashed run must not leave nginx holding its ports (SIGTERM: the master stops its workers).
    process.on('exit', () => { if (nginx.exitCode === null) nginx.kill('SIGTERM'); });
    nginxExit = new Promise((r) => nginx.on('exit', (code, signal) => r({ code, signal })));
    await waitFor('nginx answering on TLS', async () => {
      if (nginx.exitCode !== null) assert.fail(`nginx exited: ${nginxLog()}`);
      return request('GET', '/me', { timeoutMs: 2000 }).then((r) => r.status === 401, () => false);
    }, 15000, 100);
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      const killer = setTimeout(() => nginx.kill('SIGKILL'), 10000);
      await nginxExit;
      clearTimeout(killer);
    }
    await stopServers(server);
    await new Promise((r) => (grafana ? grafana.close(r) : r()));
    if (realTlsConnect) tls.connect = realTlsConnect;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('plain http redirects to https; https responses carry HSTS', async () => {
    const res = await new Promise((resolve, reject) => {
      http.get({ host: HOST, port: httpPort, path: '/profile?tab=1', agent: false }, (r) => { r.resume(); resolve(r); })
        .on('error', reject);
    });
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, `https://${HOST}/profile?tab=1`);
    const page = await request('GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.headers['strict-transport-security'] ?? '', /max-age=\d{7,}/);
  });

  test('sign-up and sign-in over TLS: the cookie is Secure and works', async () => {
    const login = uniqueLogin('ngx');
    const password = `pw-${randomSuffix(8)}`;
    const reg = await request('POST', '/register', { json: { login, password, g_recaptcha_response: '' }, headers: { Origin: origin } });
    assert.equal(reg.status, 200, reg.text);
    const regCookie = reg.headers['set-cookie'].find((c) => c.startsWith('access_token='));
    assert.match(regCookie, /;\s*Secure/i);
    assert.match(regCookie, /;\s*HttpOnly/i);

    const res = await request('POST', '/login', { json: { username: login, password, g_recaptcha_response: '' }, headers: { Origin: origin } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['set-cookie'].find((c) => c.startsWith('access_token=')), /;\s*Secure/i);
    user = { id: res.body.id, login, token: res.body.access_token, cookie: cookieFrom(res) };
    const me = await request('GET', '/me', { cookie: user.cookie });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.login, login);
  });

  test('the Origin check sees the browser Host: same-site POST passes, foreign 403', async () => {
    assert.ok(user, 'needs the user from the sign-in test');
    // A blank message: past the Origin check it is the handler's 400 (no Telegram call).
    const same = await request('POST', '/feedback', { ...browserish(), json: { message: '' } });
    assert.equal(same.status, 400, `same-site request refused: ${same.text}`);
    const foreign = await request('POST', '/feedback', { cookie: user.cookie, headers: { Origin: 'https://evil.example' }, json: { message: 'x' } });
    assert.equal(foreign.status, 403, foreign.text);
  });

  test('/metrics through nginx: vmshare judges the client nginx names, never what the client claims', async () => {
    // Every client of this test is local, and local clients may read metrics. What the client
    // claims is replaced by nginx's X-Forwarded-For ($remote_addr): still local here, 200.
    const claim = { 'X-Forwarded-For': '203.0.113.9', 'X-Real-IP': '203.0.113.9' };
    for (const p of ['/metrics', '/metrics_json']) {
      const res = await request('GET', p, { headers: claim });
      assert.equal(res.status, 200, `${p}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    // The same header reaching vmshare from nginx's address is believed: a remote client (as
    // nginx would name it) is refused without the token.
    const direct = (headers) => new Promise((resolve, reject) => {
      http.get({ host: HOST, port: server.port, path: '/metrics', headers, agent: false }, (r) => { r.resume(); resolve(r.statusCode); })
        .on('error', reject);
    });
    assert.equal(await direct(claim), 403);
    assert.equal(await direct({ ...claim, Authorization: `Bearer ${METRICS_TOKEN}` }), 200);
    const withToken = await request('GET', '/metrics', { token: METRICS_TOKEN });
    assert.equal(withToken.status, 200, withToken.text.slice(0, 200));
  });

  test('console: /run-script, then RFB over wss:// through nginx', async () => {
    assert.ok(user, 'needs the user from the sign-in test');
    const res = await request('POST', '/run-script', { ...browserish(), json: { os_type: 'tiny' }, timeoutMs: 60000 });
    assert.equal(res.status, 200, res.text);
    const vmid = res.body.vm.vmid;
    const url = `wss://${HOST}:${tlsPort}/ws/${vmid}`;

    const refused = await openConsoleSocket(url, { cookie: user.cookie, origin: 'https://evil.example' })
      .then((ws) => { ws.terminate(); return 101; }, (e) => e.status ?? e.message);
    assert.equal(refused, 403, 'a foreign Origin is refused through the proxy too');

    const rfb = await RfbClient.connect(url, { cookie: user.cookie, origin });
    try {
      assert.match(rfb.serverVersion, /^RFB 003\.008$/);
      assert.ok(rfb.width >= 320 && rfb.height >= 200, `${rfb.width}x${rfb.height}`);
      await rfb.waitForUpdate(90000, () => rfb.nonBlackPixels() > 0);
    } finally {
      rfb.close();
      await rfb.whenClosed();
    }
    const stop = await request('POST', '/vm/stop', { ...browserish(), timeoutMs: 60000 });
    assert.equal(stop.status, 200, stop.text);
  });

  test('ISO upload: the real ISO streams through (no nginx temp file), stored intact', async () => {
    assert.ok(user, 'needs the user from the sign-in test');
    const iso = readFileSync(GRUB_ISO);
    const { body, type } = multipart(iso);
    const res = await request('POST', '/api/post', { ...browserish({ 'Content-Type': type }), body, timeoutMs: 120000 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { message: 'ISO uploaded', user_id: user.id, size: iso.length });
    assert.equal(sha(readFileSync(path.join(server.dataDir, 'isos', `${user.id}.iso`))), sha(iso));
    // With request buffering on, nginx would spool this 5 MB body and log that it did.
    assert.doesNotMatch(nginxLog(), /buffered to a temporary file/);
    // The default 1m limit still applies elsewhere.
    const big = await request('POST', '/feedback', { ...browserish(), json: { message: 'x'.repeat(3 << 20) } });
    assert.equal(big.status, 413);
  });

  test('Grafana Live through nginx and vmshare: signed-in users reach Grafana over wss, without the session cookie', async () => {
    assert.ok(user, 'needs the user from the sign-in test');
    const url = `wss://${HOST}:${tlsPort}/grafana/api/live/ws`;
    const dial = (headers) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ca: cert, origin, headers });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => { res.resume(); reject(Object.assign(new Error(`${res.statusCode}`), { status: res.statusCode })); });
      ws.once('error', reject);
    });
    const anonymous = await dial({}).then(() => 101, (e) => e.status);
    assert.equal(anonymous, 401);
    const bad = await dial({ Cookie: 'access_token=forged' }).then(() => 101, (e) => e.status);
    assert.equal(bad, 401);
    const foreign = await new Promise((resolve) => {
      const ws = new WebSocket(url, { ca: cert, origin: 'https://evil.example', headers: { Cookie: user.cookie } });
      ws.once('open', () => { ws.terminate(); resolve(101); });
      ws.once('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode); });
      ws.once('error', (e) => resolve(e.message));
    });
    assert.equal(foreign, 403, 'cross-site WebSocket hijacking is refused');
    assert.equal(grafanaSeen.length, 0, 'refused handshakes never reach Grafana');

    const ws = await dial({ Cookie: `grafana_session=g1; ${user.cookie}; theme=dark` });
    const reply = new Promise((r) => ws.once('message', (m) => r(m.toString())));
    ws.send('ping');
    assert.equal(await reply, 'echo:ping');
    ws.close();
    assert.equal(grafanaSeen.length, 1);
    assert.equal(grafanaSeen[0].url, '/grafana/api/live/ws');
    assert.doesNotMatch(grafanaSeen[0].cookie, /access_token/);
    assert.match(grafanaSeen[0].cookie, /grafana_session=g1/);
    assert.match(grafanaSeen[0].cookie, /theme=dark/);
  });
});
