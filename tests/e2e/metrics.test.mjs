// Observability end to end: /metrics checked by promtool, a real Prometheus (Debian's binary)
// scraping vmshare on loopback and queried through /metrics?query=, /metrics behind a trusted
// proxy, fake Telegram, Sentry and Grafana servers receiving the watchdog alerts, feedback and
// proxied Grafana requests, streamed Grafana bodies and Grafana Live's WebSocket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import WebSocket, { WebSocketServer } from 'ws';

import { api, cookieFrom, freePort, registerUser, sleep, startServer, uniqueLogin } from './lib/server.mjs';
import { createAdmin } from './lib/vm_helpers.mjs';

const TG_TOKEN = '4242:SECRET-bot-token';
const SENTRY_KEY = 'sentrypublickey';
const METRICS_TOKEN = 'metrics-token-e2e';

// Records every request: {method, url, headers, body}; `reply(req, body)` decides the answer.
function fakeServer(reply) {
  const calls = [];
  const srv = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const call = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(parts).toString() };
      calls.push(call);
      const { status = 200, headers = {}, body = '' } = reply(call);
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
    resolve({ srv, calls, url: `http://127.0.0.1:${srv.address().port}` })));
}

const json = (status, obj, headers = {}) => ({ status, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(obj) });

function fakeTelegram() {
  return fakeServer((c) => {
    if (c.url !== `/bot${TG_TOKEN}/sendMessage`) return json(404, { ok: false, description: 'Not Found' });
    const msg = JSON.parse(c.body);
    if (msg.text.includes('FAILME')) return json(400, { ok: false, description: 'Bad Request: chat not found' });
    return json(200, { ok: true, result: { message_id: 1 } });
  });
}

function fakeGrafana() {
  return fakeServer((c) => {
    if (c.url.startsWith('/grafana/api/health'))
      return json(200, { database: 'ok', echo: c.url }, { 'X-Grafana-Test': 'yes', 'Set-Cookie': 'grafana_session=new; Path=/grafana' });
    if (c.url.startsWith('/grafana/api/echo')) return { status: 201, headers: { 'Content-Type': 'text/plain' }, body: `got:${c.body}` };
    return json(404, { message: 'not found' });
  });
}

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(input ?? '');
  });
}

async function waitFor(what, fn, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('observability with Prometheus, Grafana, Telegram and Sentry on loopback', () => {
  let server, tg, sentry, grafana, prom, promDir, promPort, user;

  before(async () => {
    [tg, sentry, grafana] = await Promise.all([fakeTelegram(), fakeServer(() => json(200, { id: 'evt' })), fakeGrafana()]);
    promPort = await freePort();
    server = await startServer({
      env: {
        PROM_URL: `http://127.0.0.1:${promPort}`,
        GRAFANA_URL: grafana.url,
        TELEGRAM_API_URL: tg.url,
        TG_BOT_TOKEN: TG_TOKEN,
        TG_CHAT_ID: '-1001',
        SENTRY_DSN: `http://${SENTRY_KEY}@127.0.0.1:${new URL(sentry.url).port}/42`,
        METRICS_TOKEN,
        // The test client stands in for nginx: its X-Forwarded-For names the real client.
        VMSHARE_TRUSTED_PROXIES: '127.0.0.1',
        CPU_THRESH: '0',
        SUSTAINED: '0',
        INTERVAL: '1',
      },
    });
    promDir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-prom-'));
    writeFileSync(path.join(promDir, 'prometheus.yml'), [
      'global: {scrape_interval: 1s, evaluation_interval: 1s}',
      'scrape_configs:',
      '  - job_name: vmshare',
      `    static_configs: [{targets: ["127.0.0.1:${server.port}"]}]`,
      '',
    ].join('\n'));
    prom = spawn('prometheus', [
      `--config.file=${path.join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: 'ignore' });
    user = await registerUser(server);
  });

  after(async () => {
    prom?.kill('SIGTERM');
    await server?.stop();
    for (const f of [tg, sentry, grafana]) f?.srv.close();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  test('/metrics passes promtool and has the API names, labelled by route template', async () => {
    await api(server, 'GET', '/console/abc123');
    await api(server, 'POST', '/login', { json: { username: user.login, password: 'wrong', g_recaptcha_response: '' } });
    // The host CPU share needs two readings of /proc/stat (the collector's first round is a baseline).
    const res = await waitFor('the first CPU share', async () => {
      const r = await api(server, 'GET', '/metrics');
      return /^vmshare_host_cpu_percent /m.test(r.text) ? r : null;
    }, 10000);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const check = await run('promtool', ['check', 'metrics'], res.text);
    assert.equal(check.code, 0, check.out);
    for (const name of ['vmshare_request_duration_seconds_bucket', 'vmshare_requests_total', 'vmshare_host_cpu_percent',
      'vmshare_host_ram_percent', 'vmshare_users_total', 'vmshare_active_sessions', 'vmshare_db_query_seconds_bucket',
      'vmshare_db_pool_in_use', 'vmshare_console_open', 'vmshare_build_info'])
      assert.match(res.text, new RegExp(`^${name}[{ ]`, 'm'), name);
    assert.match(res.text, /vmshare_requests_total\{path="\/console\/<vmid>",method="GET",status="200"\} 1/);
    assert.doesNotMatch(res.text, /abc123/);
    assert.match(res.text, /vmshare_failed_logins_total\{reason="bad_credentials"\} 1/);
    // The collector refreshes the user count every INTERVAL (1 s here).
    await waitFor('the user count', async () => /^vmshare_users_total 1$/m.test((await api(server, 'GET', '/metrics')).text), 10000);
  });

  test('/metrics_json mirrors the registry', async () => {
    const res = await api(server, 'GET', '/metrics_json');
    assert.equal(res.status, 200);
    assert.equal(res.body.vmshare_requests_total.type, 'counter');
    assert.ok(res.body.vmshare_requests_total.series.some((s) => s.labels.path === '/register'));
    assert.equal(res.body.vmshare_request_duration_seconds.type, 'histogram');
  });

  test('behind a trusted proxy, /metrics and /metrics_json judge the forwarded client', async () => {
    // 203.0.113.9 (TEST-NET-3) only ever appears in a header: no traffic goes there.
    const remote = { 'X-Forwarded-For': '203.0.113.9' };
    const password = 'metrics admin password';
    const admin = await createAdmin(server, uniqueLogin('madmin'), password);
    const adminCookie = cookieFrom(await api(server, 'POST', '/login', { json: { username: admin.login, password } }));
    assert.ok(adminCookie);
    for (const p of ['/metrics', '/metrics_json', '/metrics?query=up']) {
      const anonymous = await api(server, 'GET', p, { headers: remote });
      assert.ok([401, 403].includes(anonymous.status), `${p} anonymous: ${anonymous.status}`);
      assert.doesNotMatch(anonymous.text, /vmshare_requests_total/);
      assert.equal((await api(server, 'GET', p, { headers: { 'X-Real-IP': '203.0.113.9' } })).status, anonymous.status, `${p} X-Real-IP`);
      // Entries the client writes itself (left of, or appended after, what a proxy vouches for) prove nothing.
      for (const spoof of ['127.0.0.1, 203.0.113.9', '203.0.113.9, 127.0.0.1'])
        assert.equal((await api(server, 'GET', p, { headers: { 'X-Forwarded-For': spoof } })).status, anonymous.status, `${p} ${spoof}`);
      assert.equal((await api(server, 'GET', p, { headers: { 'X-Forwarded-For': 'not-an-address' } })).status, anonymous.status);
      assert.equal((await api(server, 'GET', p, { headers: remote, cookie: user.cookie })).status, 403, `${p} user session`);
      assert.equal((await api(server, 'GET', p, { headers: remote, token: user.token })).status, 403, `${p} user bearer`);
      assert.equal((await api(server, 'GET', p, { headers: { ...remote, Authorization: 'Bearer wrong-token' } })).status, 403);
    }
    for (const p of ['/metrics', '/metrics_json']) {
      const asAdmin = await api(server, 'GET', p, { headers: remote, cookie: adminCookie });
      assert.equal(asAdmin.status, 200, `${p} admin session: ${asAdmin.text}`);
      const withToken = await api(server, 'GET', p, { headers: { ...remote, Authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(withToken.status, 200, `${p} metrics token`);
      // A client on the proxy's own host is local.
      assert.equal((await api(server, 'GET', p, { headers: { 'X-Forwarded-For': '::1' } })).status, 200, `${p} forwarded loopback`);
    }
    const text = await api(server, 'GET', '/metrics', { headers: remote, cookie: adminCookie });
    assert.match(text.text, /^vmshare_requests_total\{/m);
    const json = await api(server, 'GET', '/metrics_json', { headers: { ...remote, Authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(json.body.vmshare_requests_total.type, 'counter');
  });

  test('a real Prometheus scrapes vmshare; /metrics?query=up returns 1', async () => {
    const body = await waitFor('the first scrape', async () => {
      const res = await api(server, 'GET', '/metrics?query=up');
      if (res.status !== 200 || res.body.data?.result?.length !== 1) return null;
      return res.body.data.result[0].value[1] === '1' ? res.body : null;
    });
    assert.equal(body.status, 'success');
    assert.equal(body.data.result[0].metric.job, 'vmshare');
    const now = Math.floor(Date.now() / 1000);
    const range = await api(server, 'GET', `/metrics?query=${encodeURIComponent('vmshare_host_ram_percent')}&start=${now - 60}&end=${now}&step=1`);
    assert.equal(range.status, 200, range.text);
    assert.equal(range.body.data.resultType, 'matrix');
  });

  test('query errors: missing 400, Prometheus errors passed on', async () => {
    assert.equal((await api(server, 'GET', '/metrics?query=')).status, 400);
    assert.equal((await api(server, 'GET', '/metrics?query=up&start=1')).status, 400);
    const bad = await waitFor('Prometheus up', async () => {
      const r = await api(server, 'GET', `/metrics?query=${encodeURIComponent('up{')}`);
      return r.status === 502 ? null : r;
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.status, 'error');
    assert.equal(bad.body.errorType, 'bad_data');
  });

  test('the watchdog alerts reach Telegram (HTML) and Sentry (store API with X-Sentry-Auth)', async () => {
    const tgCall = await waitFor('a Telegram alert', () => tg.calls.find((c) => JSON.parse(c.body).text.includes('watchdog')), 20000);
    const msg = JSON.parse(tgCall.body);
    assert.equal(msg.chat_id, '-1001');
    assert.equal(msg.parse_mode, 'HTML');
    assert.match(msg.text, /ALERT: CPU [\d.]+% &gt;= 0%/);
    assert.match(msg.text, /RSS/);
    const sentryCall = await waitFor('a Sentry event', () => sentry.calls[0], 20000);
    assert.equal(sentryCall.url, '/api/42/store/');
    assert.match(sentryCall.headers['x-sentry-auth'], new RegExp(`sentry_key=${SENTRY_KEY}`));
    const event = JSON.parse(sentryCall.body);
    assert.equal(event.level, 'warning');
    assert.match(event.message.formatted, /ALERT: CPU/);
    // Rate-limited: one alert per condition while it keeps firing, however many intervals pass.
    await sleep(2500);
    assert.equal(tg.calls.filter((c) => JSON.parse(c.body).text.includes('watchdog')).length, 1);
    assert.equal(sentry.calls.length, 1);
    assert.doesNotMatch(server.logs(), new RegExp(`SECRET-bot-token|${SENTRY_KEY}`));
  });

  test('POST /feedback forwards the signed-in user\'s message, HTML-escaped', async () => {
    assert.equal((await api(server, 'POST', '/feedback', { json: { message: 'hi' } })).status, 401);
    assert.equal((await api(server, 'POST', '/feedback', { cookie: user.cookie, json: { message: '   ' } })).status, 400);
    assert.equal((await api(server, 'POST', '/feedback', { cookie: user.cookie, json: {} })).status, 400);
    assert.equal((await api(server, 'POST', '/feedback', { cookie: user.cookie, json: { message: 'x'.repeat(5000) } })).status, 413);
    const before = tg.calls.length;
    const res = await api(server, 'POST', '/feedback', { cookie: user.cookie, json: { message: '<b>hi</b> & bye' } });
    assert.equal(res.status, 200, res.text);
    const msg = JSON.parse(tg.calls.at(-1).body);
    assert.equal(tg.calls.length, before + 1);
    assert.match(msg.text, /&lt;b&gt;hi&lt;\/b&gt; &amp; bye/);
    assert.ok(msg.text.includes(user.login));
    const viaText = await api(server, 'POST', '/feedback', { token: user.token, json: { text: 'plain' } });
    assert.equal(viaText.status, 200);
    const failed = await api(server, 'POST', '/feedback', { cookie: user.cookie, json: { message: 'FAILME' } });
    assert.equal(failed.status, 502);
  });

  test('Grafana: iframe src, panel.png 410, proxy for signed-in users without our credentials', async () => {
    const src = await api(server, 'GET', '/grafana/panel_iframe_src?uid=abc-1&panelId=3');
    assert.equal(src.status, 200);
    assert.equal(src.body.src, '/grafana/d-solo/abc-1/vmshare?orgId=1&panelId=3&from=now-1h&to=now&refresh=10s&theme=dark&kiosk');
    assert.equal((await api(server, 'GET', '/grafana/panel_iframe_src?uid=a%22b')).status, 400);
    assert.equal((await api(server, 'GET', '/grafana/panel_iframe_src?panelId=x')).status, 400);
    assert.equal((await api(server, 'GET', '/grafana/panel.png')).status, 410);

    assert.equal((await api(server, 'GET', '/grafana/api/health')).status, 401);
    const seen = grafana.calls.length;
    // An allowlist: Grafana's own headers pass, anything else (identity headers above all) does not.
    const res = await api(server, 'GET', '/grafana/api/health?x=1&y=%2F', {
      cookie: `${user.cookie}; grafana_session=abc`,
      headers: { 'X-Custom': 'dropped', 'X-WEBAUTH-USER': 'admin', 'X-WEBAUTH-ROLE': 'Admin', 'X-Forwarded-User': 'admin',
        'Remote-User': 'admin', 'X-Grafana-Org-Id': '1', 'Accept-Language': 'fr' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.echo, '/grafana/api/health?x=1&y=%2F');
    assert.equal(res.headers['x-grafana-test'], 'yes');
    assert.deepEqual(res.headers['set-cookie'], ['grafana_session=new; Path=/grafana']);
    const call = grafana.calls.at(-1);
    assert.equal(grafana.calls.length, seen + 1);
    assert.equal(call.headers.cookie, 'grafana_session=abc');
    assert.equal(call.headers.authorization, undefined);
    for (const h of ['x-custom', 'x-webauth-user', 'x-webauth-role', 'x-forwarded-user', 'remote-user'])
      assert.equal(call.headers[h], undefined, h);
    assert.equal(call.headers['x-grafana-org-id'], '1');
    assert.equal(call.headers['accept-language'], 'fr');
    assert.equal(call.headers['x-forwarded-for'], '127.0.0.1');

    // Bearer-authenticated: the token is not forwarded either; bodies and statuses pass through.
    const post = await api(server, 'POST', '/grafana/api/echo', { token: user.token, body: 'payload', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(post.status, 201);
    assert.equal(post.text, 'got:payload');
    assert.equal(grafana.calls.at(-1).headers.authorization, undefined);
    assert.equal(grafana.calls.at(-1).method, 'POST');
    assert.equal((await api(server, 'GET', '/grafana/nope', { token: user.token })).status, 404);
  });
});

describe('observability without its services', () => {
  let server, user;
  before(async () => {
    const closed = await freePort();
    server = await startServer({
      env: { PROM_URL: `http://127.0.0.1:${closed}`, GRAFANA_URL: `http://127.0.0.1:${closed}`, VMSHARE_TRUSTED_PROXIES: '' },
    });
    user = await registerUser(server);
  });
  after(async () => { await server?.stop(); });

  test('no trusted proxies: forwarding headers are ignored, loopback is loopback', async () => {
    for (const headers of [{ 'X-Forwarded-For': '203.0.113.9' }, { 'X-Real-IP': '203.0.113.9' }])
      assert.equal((await api(server, 'GET', '/metrics', { headers })).status, 200);
  });

  test('Prometheus or Grafana unreachable: 502; Telegram not configured: 503', async () => {
    const q = await api(server, 'GET', '/metrics?query=up');
    assert.equal(q.status, 502);
    assert.match(q.body.detail, /Prometheus/);
    assert.equal((await api(server, 'GET', '/grafana/api/health', { token: user.token })).status, 502);
    const live = await dialLive(server, '/grafana/api/live/ws', { token: user.token })
      .then((ws) => { ws.terminate(); return 101; }, (e) => e.status ?? e.message);
    assert.equal(live, 502, 'Grafana Live: refused before the upgrade');
    const fb = await api(server, 'POST', '/feedback', { token: user.token, json: { message: 'hello' } });
    assert.equal(fb.status, 503);
    assert.match(fb.body.detail, /Telegram is not configured/);
  });

  test('Grafana not configured: 404', async () => {
    const other = await startServer({});
    try {
      const u = await registerUser(other);
      assert.equal((await api(other, 'GET', '/grafana/api/health', { token: u.token })).status, 404);
      assert.equal((await api(other, 'GET', '/metrics?query=up')).status, 503);
    } finally {
      await other.stop();
    }
  });
});

// Grafana for the streaming tests: /grafana/api/big?mb=N[&length=1] sends N MiB, one MiB (each
// byte the MiB's index) every few milliseconds, as fast as the reader takes them;
// /grafana/api/stall sends a little and then nothing; /grafana/api/live/ws echoes WebSocket
// messages ("close-me" makes it close with 4001) and refuses /grafana/api/live/forbidden.
function fakeStreamingGrafana() {
  const state = { sent: 0, lastSentAt: 0, closes: [], upgrades: [], liveClosed: [], requests: [] };
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://grafana');
    state.requests.push({ url: req.url, headers: req.headers });
    res.on('close', () => state.closes.push({ path: url.pathname, at: Date.now(), finished: res.writableFinished }));
    if (url.pathname === '/grafana/api/big') {
      const total = Number(url.searchParams.get('mb'));
      const headers = { 'Content-Type': 'application/octet-stream' };
      if (url.searchParams.has('length')) headers['Content-Length'] = total << 20;
      res.writeHead(200, headers);
      state.sent = 0;
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i === total) {
          state.lastSentAt = Date.now();
          return res.end();
        }
        const ok = res.write(Buffer.alloc(1 << 20, i & 0xff));
        i += 1;
        state.sent = i << 20;
        if (ok) setTimeout(next, 5);
        else res.once('drain', next);
      };
      return next();
    }
    if (url.pathname === '/grafana/api/stall') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return res.write('x'.repeat(1000));  // and never more
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"message":"not found"}');
  });
  const live = new WebSocketServer({ noServer: true });
  srv.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/grafana/api/live/')) return socket.destroy();
    if (req.url.includes('forbidden')) return socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    live.handleUpgrade(req, socket, head, (ws) => {
      state.upgrades.push({ url: req.url, headers: req.headers, protocol: ws.protocol });
      ws.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'close-me') return ws.close(4001, 'bye from grafana');
        ws.send(data, { binary: isBinary });
      });
      ws.on('close', (code, reason) => state.liveClosed.push({ code, reason: reason.toString() }));
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
    resolve({ srv, live, state, url: `http://127.0.0.1:${srv.address().port}` })));
}

// A GET whose body is consumed as it comes; onResponse(res) may pause it.
function stream(server, urlPath, { token, onResponse, onData } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: urlPath, agent: false,
      headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      const out = { status: res.statusCode, headers: res.headers, bytes: 0, firstAt: 0, complete: false, req };
      onResponse?.(res, out);
      res.on('data', (d) => {
        if (!out.firstAt) out.firstAt = Date.now();
        onData?.(d, out);
        out.bytes += d.length;
      });
      res.on('end', () => { out.complete = res.complete; resolve(out); });
      res.on('aborted', () => resolve(out));
      res.on('error', () => resolve(out));
    });
    req.on('error', reject);
  });
}

// Checks each MiB carries its index (every 4 KiB sampled).
const patternCheck = () => {
  let bad = 0;
  return [(d, out) => {
    for (let k = 0; k < d.length; k += 4096) if (d[k] !== (((out.bytes + k) >> 20) & 0xff)) bad += 1;
  }, () => bad];
};

function dialLive(server, path, { cookie, token, origin, protocols, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (cookie) headers.Cookie = cookie;
  if (token) headers.Authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, protocols, { headers, origin });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => { res.resume(); reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })); });
    ws.once('error', reject);
  });
}
const nextMessage = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
const closed = (ws) => new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

describe('Grafana proxy: streamed bodies and Grafana Live', () => {
  let server, grafana, user;
  before(async () => {
    grafana = await fakeStreamingGrafana();
    // A short read timeout so the stall tests end quickly.
    server = await startServer({ env: { GRAFANA_URL: grafana.url, READ_TIMEOUT_S: '3' } });
    user = await registerUser(server);
  });
  after(async () => {
    await server?.stop();
    grafana?.live.close();
    grafana?.srv.closeAllConnections?.();
    grafana?.srv.close();
  });

  test('64 MiB (twice the old cap) stream through chunked: the first bytes arrive before Grafana sends the last', async () => {
    const [check, bad] = patternCheck();
    const res = await stream(server, '/grafana/api/big?mb=64', { token: user.token, onData: check });
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.ok(res.complete);
    assert.equal(res.bytes, 64 << 20);
    assert.equal(bad(), 0, 'bytes arrived intact and in order');
    assert.ok(res.firstAt > 0 && res.firstAt < grafana.state.lastSentAt,
      `first byte at ${res.firstAt}, Grafana's last at ${grafana.state.lastSentAt}`);
  });

  test("Grafana's Content-Length is kept; keep-alive still works after a streamed body", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (p) => new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: p, agent, headers: { Authorization: `Bearer ${user.token}` } }, (res) => {
          let n = 0;
          res.on('data', (d) => { n += d.length; });
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, n, socket: res.socket }));
        }).on('error', reject);
      });
      const a = await get('/grafana/api/big?mb=3&length=1');
      assert.equal(a.status, 200);
      assert.equal(a.headers['content-length'], String(3 << 20));
      assert.equal(a.headers['transfer-encoding'], undefined);
      assert.equal(a.n, 3 << 20);
      const b = await get('/grafana/api/nope');
      assert.equal(b.status, 404);
      assert.equal(a.socket, b.socket, 'the same connection served both');
      const head = await api(server, 'HEAD', '/grafana/api/big?mb=3&length=1', { token: user.token });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(3 << 20), 'HEAD tells the length GET would send');
      assert.equal(head.raw.length, 0);
    } finally {
      agent.destroy();
    }
  });

  test('backpressure: a browser that stops reading holds Grafana back, then gets everything', async () => {
    const [check, bad] = patternCheck();
    let resumed;
    const res = await stream(server, '/grafana/api/big?mb=64', {
      token: user.token,
      onData: check,
      onResponse: (r) => {
        r.once('data', () => {
          r.pause();
          // Less than READ_TIMEOUT_S (3 s): a pause, not a stall.
          resumed = sleep(1000).then(() => { const sent = grafana.state.sent; r.resume(); return sent; });
        });
      },
    });
    const sentWhilePaused = await resumed;
    assert.ok(res.complete);
    assert.equal(res.bytes, 64 << 20);
    assert.equal(bad(), 0);
    // Socket buffers on both hops and vmshare's 256 KiB queue: far less than everything.
    assert.ok(sentWhilePaused < 40 << 20, `Grafana got ${sentWhilePaused >> 20} MiB out while the browser read nothing`);
  });

  test('a Grafana that stalls mid-body is cut after READ_TIMEOUT_S; so is one whose browser left', async () => {
    const t0 = Date.now();
    const res = await stream(server, '/grafana/api/stall', { token: user.token });
    const elapsed = Date.now() - t0;
    assert.equal(res.status, 200);
    assert.equal(res.bytes, 1000);
    assert.equal(res.complete, false, 'the browser sees the body incomplete');
    assert.ok(elapsed >= 2500 && elapsed < 10000, `cut after ${elapsed} ms`);
    const upstream = await waitFor('Grafana to see the proxy hang up', () => grafana.state.closes.find((c) => c.path === '/grafana/api/stall'), 5000);
    assert.equal(upstream.finished, false);

    // The browser goes away mid-body: vmshare stops fetching from Grafana.
    const before = grafana.state.closes.length;
    await stream(server, '/grafana/api/big?mb=64', { token: user.token, onResponse: (r) => r.once('data', () => r.destroy()) });
    const gone = await waitFor('Grafana to see the proxy hang up', () => grafana.state.closes.slice(before).find((c) => c.path === '/grafana/api/big'), 10000);
    assert.equal(gone.finished, false);
    assert.ok(grafana.state.sent < 64 << 20, `Grafana sent ${grafana.state.sent >> 20} MiB`);
    // Workers are free: the server still answers.
    assert.equal((await api(server, 'GET', '/me', { token: user.token })).status, 200);
  });

  test('Grafana Live: text and binary messages both ways, our credentials stay home, close passes through', async () => {
    const origin = server.url;
    const ws = await dialLive(server, '/grafana/api/live/ws?x=1', { cookie: `grafana_session=g1; ${user.cookie}; theme=dark`, origin, headers: { 'X-WEBAUTH-USER': 'admin' } });
    let reply = nextMessage(ws);
    ws.send('{"id":1,"connect":{}}');
    let m = await reply;
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), '{"id":1,"connect":{}}');
    reply = nextMessage(ws);
    const blob = Buffer.from([0, 1, 2, 250, 251, 252]);
    ws.send(blob);
    m = await reply;
    assert.equal(m.isBinary, true);
    assert.deepEqual(Buffer.from(m.data), blob);
    // A message larger than any one buffer on the way, in one piece.
    reply = nextMessage(ws);
    const big = 'y'.repeat(300 * 1024);
    ws.send(big);
    m = await reply;
    assert.equal(m.data.toString(), big);

    const seen = grafana.state.upgrades.at(-1);
    assert.equal(seen.url, '/grafana/api/live/ws?x=1');
    assert.doesNotMatch(seen.headers.cookie, /access_token/);
    assert.match(seen.headers.cookie, /grafana_session=g1/);
    assert.match(seen.headers.cookie, /theme=dark/);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-webauth-user'], undefined, 'a forged identity stays here');

    // Grafana closes: the browser gets its code and reason.
    const fromGrafana = closed(ws);
    ws.send('close-me');
    assert.deepEqual(await fromGrafana, { code: 4001, reason: 'bye from grafana' });

    // The browser closes: Grafana gets its code and reason.
    const second = await dialLive(server, '/grafana/api/live/ws', { token: user.token, origin });
    const before = grafana.state.liveClosed.length;
    second.close(4002, 'bye from the browser');
    await closed(second);
    const c = await waitFor('Grafana to see the close', () => grafana.state.liveClosed[before], 5000);
    assert.deepEqual(c, { code: 4002, reason: 'bye from the browser' });
  });

  test('Grafana Live: the subprotocol Grafana picks reaches the browser', async () => {
    const ws = await dialLive(server, '/grafana/api/live/ws', { token: user.token, protocols: ['centrifuge-protobuf'] });
    assert.equal(ws.protocol, 'centrifuge-protobuf');
    assert.equal(grafana.state.upgrades.at(-1).protocol, 'centrifuge-protobuf');
    ws.close();
    await closed(ws);
  });

  test('Grafana Live: anonymous 401, foreign Origin 403, refused before Grafana sees anything', async () => {
    const seen = grafana.state.upgrades.length;
    const status = (p) => p.then((ws) => { ws.terminate(); return 101; }, (e) => e.status ?? e.message);
    assert.equal(await status(dialLive(server, '/grafana/api/live/ws', { origin: server.url })), 401);
    assert.equal(await status(dialLive(server, '/grafana/api/live/ws', { cookie: 'access_token=forged', origin: server.url })), 401);
    assert.equal(await status(dialLive(server, '/grafana/api/live/ws', { cookie: user.cookie, origin: 'https://evil.example' })), 403);
    assert.equal(await status(dialLive(server, '/grafana/api/live/ws', { token: user.token, origin: 'https://evil.example' })), 403);
    assert.equal(grafana.state.upgrades.length, seen);
    // Grafana's own refusal (e.g. no Grafana sign-in) reaches the browser as it was.
    assert.equal(await status(dialLive(server, '/grafana/api/live/forbidden', { token: user.token })), 403);
  });
});

describe('Grafana behind an auth proxy fed by vmshare (GRAFANA_AUTH_PROXY_HEADER)', () => {
  let server, grafana, user;
  before(async () => {
    grafana = await fakeStreamingGrafana();
    server = await startServer({ env: { GRAFANA_URL: grafana.url, GRAFANA_AUTH_PROXY_HEADER: 'X-WEBAUTH-USER' } });
    user = await registerUser(server);
  });
  after(async () => {
    await server?.stop();
    grafana?.live.close();
    grafana?.srv.closeAllConnections?.();
    grafana?.srv.close();
  });

  test("Grafana sees the signed-in user's login and the fixed role, whatever the browser claims", async () => {
    const res = await api(server, 'GET', '/grafana/api/nope', {
      token: user.token, headers: { 'X-WEBAUTH-USER': 'admin', 'X-WEBAUTH-ROLE': 'Admin' },
    });
    assert.equal(res.status, 404);
    const seen = grafana.state.requests.at(-1);
    assert.equal(seen.headers['x-webauth-user'], user.login);
    assert.equal(seen.headers['x-webauth-role'], 'Viewer');
    // Not signed in: Grafana sees nothing at all.
    const before = grafana.state.requests.length;
    assert.equal((await api(server, 'GET', '/grafana/api/nope', { headers: { 'X-WEBAUTH-USER': 'admin' } })).status, 401);
    assert.equal(grafana.state.requests.length, before);
    // Grafana Live's upgrade carries the same identity.
    const ws = await dialLive(server, '/grafana/api/live/ws', { token: user.token, headers: { 'X-WEBAUTH-USER': 'admin' } });
    const up = grafana.state.upgrades.at(-1);
    assert.equal(up.headers['x-webauth-user'], user.login);
    assert.equal(up.headers['x-webauth-role'], 'Viewer');
    ws.close();
    await closed(ws);
  });
});
