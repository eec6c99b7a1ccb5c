// Share links and the viewer list (issue 15) against bench/fake_rfb_qemu: the owner makes,
// lists and revokes links; visitors open /share/ws with the token as a WebSocket subprotocol;
// revoked, expired, ended-VM and sign-in-required links are refused with clear errors; link
// viewers count toward the viewer caps (the per-user cap against the owner) and show in the
// owner's viewer list, which can end them; a foreign Origin is refused; the token never
// reaches the server's log. One server for the file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient, openConsoleSocket } from './lib/rfb_client.mjs';
import { api, registerUser } from './lib/server.mjs';
import { sqlValue } from './lib/snapshot_helpers.mjs';
import { waitFor } from './lib/vm_helpers.mjs';

let server;
const tokens = [];  // every token handed out, to look for in the log at the end

before(async () => {
  server = await startFakeVmServer({ env: {
    CONSOLE_VIEWERS_PER_VM: '4', CONSOLE_VIEWERS_PER_USER: '2', SHARE_LINKS_PER_VM: '2', VMSHARE_MAX_VMS: '30',
    VMSHARE_DISCONNECT_GRACE_S: '600',
  } });
});
after(async () => {
  if (!server) return;
  await server.stop();  // ends its fake QEMUs too (lib/server.mjs)
});

async function ownerWithVm() {
  const user = await registerUser(server);
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(res.status, 200, res.text);
  return { ...user, vmid: res.body.vm.vmid };
}

async function share(user, json = {}) {
  const res = await api(server, 'POST', '/vm/share', { token: user.token, json });
  if (res.status === 200) tokens.push(res.body.url.split('#')[1]);
  return res;
}
const tokenOf = (res) => res.body.url.slice('/share#'.length);
const shareUrl = () => `ws://127.0.0.1:${server.port}/share/ws`;
const protocolsFor = (token) => ['binary', `vmshare-share.${token}`];
const info = (token, opts = {}) => api(server, 'POST', '/share/info', { json: { token }, ...opts });
const viewers = async (user) => (await api(server, 'GET', '/vm/viewers', { token: user.token })).body;

// The share console's upgrade on a plain HTTP request: {status: 101}, or the refusal's status
// and {"detail"}.
function tryShare(token, opts = {}) {
  return tryUpgrade('/share/ws', protocolsFor(token), opts);
}

function tryUpgrade(urlPath, protocols, { origin = server.url, cookie } = {}) {
  const headers = {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'), 'Sec-WebSocket-Protocol': protocols.join(', '),
  };
  if (origin) headers.Origin = origin;
  if (cookie) headers.Cookie = cookie;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: urlPath, headers, agent: false });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode }); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        let detail;
        try { detail = JSON.parse(body).detail; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, detail });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
const visit = (token, opts = {}) => RfbClient.connect(shareUrl(), { origin: server.url, protocols: protocolsFor(token), ...opts });

describe('share links', () => {
  test('create, list and revoke; the token is shown once and only its hash is stored', async () => {
    const owner = await ownerWithVm();
    const made = await share(owner, { mode: 'control', minutes: 30, sign_in: false });
    assert.equal(made.status, 200, made.text);
    assert.match(made.body.url, /^\/share#[0-9a-f]{64}$/, 'the token rides in the fragment');
    assert.equal(made.body.mode, 'control');
    assert.equal(made.body.sign_in, false);
    assert.equal(made.headers['cache-control'], 'no-store');
    const ttl = (Date.parse(made.body.expires_at) - Date.parse(made.body.created_at)) / 60000;
    assert.equal(ttl, 30);
    const token = tokenOf(made);

    const list = await api(server, 'GET', '/vm/shares', { token: owner.token });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.map((l) => [l.id, l.mode, l.viewers]), [[made.body.id, 'control', 0]]);
    assert.ok(!list.text.includes(token), 'the list never shows a token');
    const stored = await sqlValue(server, `SELECT token_hash FROM share_links WHERE id = ${made.body.id}`);
    assert.match(stored, /^[0-9a-f]{64}$/);
    assert.notEqual(stored, token);

    assert.equal((await info(token)).status, 200);
    const other = await registerUser(server);
    const foreign = await api(server, 'POST', '/vm/share/revoke', { token: other.token, json: { id: made.body.id } });
    assert.equal(foreign.status, 404, 'only the owner revokes');
    const revoked = await api(server, 'DELETE', `/vm/shares/${made.body.id}`, { token: owner.token });
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual((await api(server, 'GET', '/vm/shares', { token: owner.token })).body, []);
    const gone = await info(token);
    assert.equal(gone.status, 410);
    assert.match(gone.body.detail, /revoked/);
    const again = await api(server, 'POST', '/vm/share/revoke', { token: owner.token, json: { id: made.body.id } });
    assert.equal(again.status, 404);
  });

  test('bad requests get clear errors; no VM 404; no credentials 401', async () => {
    const owner = await ownerWithVm();
    for (const [json, pattern] of [
      [{ minutes: 2 }, /from 5 to 1440/], [{ minutes: 1441 }, /from 5 to 1440/], [{ minutes: 'soon' }, /whole number/],
      [{ mode: 'admin' }, /control.*view_only/], [{ sign_in: 'perhaps' }, /sign_in/]]) {
      const res = await share(owner, json);
      assert.equal(res.status, 422, `${JSON.stringify(json)}: ${res.text}`);
      assert.match(res.body.detail, pattern);
    }
    const defaults = await share(owner, {});
    assert.equal(defaults.status, 200, defaults.text);
    assert.equal(defaults.body.mode, 'view_only', 'the safe default');
    assert.equal((Date.parse(defaults.body.expires_at) - Date.parse(defaults.body.created_at)) / 60000, 60);
    const noVm = await registerUser(server);
    assert.equal((await share(noVm)).status, 404);
    assert.equal((await api(server, 'GET', '/vm/viewers', { token: noVm.token })).status, 404);
    assert.equal((await api(server, 'POST', '/vm/share', { json: {} })).status, 401);
    assert.equal((await api(server, 'POST', '/vm/viewers/end', { token: owner.token, json: { id: 999999 } })).status, 404);
    for (const bad of ['', 'x', 'f'.repeat(64), 'F'.repeat(64)]) {
      const res = await info(bad);
      assert.equal(res.status, 404, bad);
      assert.match(res.body.detail, /not valid/);
    }
  });

  test('at most SHARE_LINKS_PER_VM live links per VM: 429 with a clear detail', async () => {
    const owner = await ownerWithVm();
    const [a] = [await share(owner), await share(owner)];
    const third = await share(owner);
    assert.equal(third.status, 429, third.text);
    assert.match(third.body.detail, /already has 2 live share links/);
    await api(server, 'POST', '/vm/share/revoke', { token: owner.token, json: { id: a.body.id } });
    assert.equal((await share(owner)).status, 200, 'a revoked link frees its place');
  });

  test('a visitor watches without an account, shows in the viewer list, and can be ended', async () => {
    const owner = await ownerWithVm();
    const token = tokenOf(await share(owner, { mode: 'view_only' }));
    const visitor = await visit(token);
    try {
      await visitor.waitForUpdate(15000, () => visitor.nonBlackPixels() > 0);
      const list = await viewers(owner);
      assert.equal(list.length, 1, JSON.stringify(list));
      const [v] = list;
      assert.equal(v.mode, 'view_only');
      assert.equal(v.address, '127.0.0.1');
      assert.equal(v.login, null);
      assert.ok(Date.parse(v.since) <= Date.now());
      const links = (await api(server, 'GET', '/vm/shares', { token: owner.token })).body;
      assert.equal(v.via, links[0].id);
      assert.equal(links[0].viewers, 1);
      assert.equal((await api(server, 'GET', '/vm/status', { token: owner.token })).body.viewers, 1);

      const other = await ownerWithVm();
      const foreign = await api(server, 'POST', '/vm/viewers/end', { token: other.token, json: { id: v.id } });
      assert.equal(foreign.status, 404, 'another owner cannot end it');
      const ended = await api(server, 'POST', '/vm/viewers/end', { token: owner.token, json: { id: v.id } });
      assert.equal(ended.status, 200, ended.text);
      const closed = await visitor.whenClosed();
      assert.match(closed.reason, /ended by the VM's owner/);
      await waitFor('viewer list empty', async () => (await viewers(owner)).length === 0, 5000);
    } finally {
      visitor.close();
    }
  });

  test('revoking a link ends its viewers and refuses it from then on', async () => {
    const owner = await ownerWithVm();
    const made = await share(owner, { mode: 'control' });
    const visitor = await visit(tokenOf(made));
    await api(server, 'POST', '/vm/share/revoke', { token: owner.token, json: { id: made.body.id } });
    const closed = await visitor.whenClosed();
    assert.match(closed.reason, /revoked/);
    const refused = await tryShare(tokenOf(made));
    assert.equal(refused.status, 410);
    assert.match(refused.detail, /revoked/);
  });

  test('an expired link is refused with a clear error', async () => {
    const owner = await ownerWithVm();
    const made = await share(owner, { minutes: 5 });
    await sqlValue(server, `UPDATE share_links SET created_at = created_at - 600, expires_at = expires_at - 600 WHERE id = ${made.body.id}`);
    const res = await info(tokenOf(made));
    assert.equal(res.status, 410);
    assert.match(res.body.detail, /expired/);
    assert.equal((await tryShare(tokenOf(made))).status, 410);
    assert.deepEqual((await api(server, 'GET', '/vm/shares', { token: owner.token })).body, [], 'not live');
  });

  test('a sign-in link needs credentials: anonymous 401, any signed-in user gets in', async () => {
    const owner = await ownerWithVm();
    const token = tokenOf(await share(owner, { sign_in: true }));
    const anonymous = await info(token);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body.detail, /Sign in/);
    assert.equal((await tryShare(token)).status, 401);
    const friend = await registerUser(server);
    const known = await info(token, { cookie: friend.cookie, headers: { Origin: server.url } });
    assert.equal(known.status, 200, known.text);
    assert.equal(known.body.signed_in_as, friend.login);
    const visitor = await visit(token, { cookie: friend.cookie });
    try {
      const [v] = await viewers(owner);
      assert.equal(v.login, friend.login);
    } finally {
      visitor.close();
      await visitor.whenClosed();
    }
  });

  test('a foreign Origin is refused; a missing or garbled token is refused before the upgrade', async () => {
    const owner = await ownerWithVm();
    const token = tokenOf(await share(owner));
    assert.equal((await tryShare(token, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await tryShare(token, { origin: `http://127.0.0.1:${server.port + 1}` })).status, 403);
    assert.equal((await tryShare('0'.repeat(64))).status, 404);
    const noToken = await openConsoleSocket(shareUrl(), { origin: server.url }).then(() => 101, (e) => e.status);
    assert.equal(noToken, 404);
    const refused = await tryShare('0'.repeat(64));
    assert.match(refused.detail, /not valid/);
    assert.equal((await tryShare(token)).status, 101);
  });

  test('link viewers count toward the caps: the per-user cap against the owner', async () => {
    const owner = await ownerWithVm();
    const token = tokenOf(await share(owner, { mode: 'control' }));
    const mine = await RfbClient.connect(`ws://127.0.0.1:${server.port}/ws/${owner.vmid}`, { cookie: owner.cookie, origin: server.url });
    const first = await visit(token);
    try {
      const refused = await tryShare(token);
      assert.equal(refused.status, 429, 'CONSOLE_VIEWERS_PER_USER=2: the owner and one visitor');
      // Said to the visitor, not to the owner ("You already have 2 open consoles").
      assert.equal(refused.detail, 'This console has as many viewers as its owner allows; try again later');
      const own = await tryUpgrade(`/ws/${owner.vmid}`, ['binary'], { cookie: owner.cookie });
      assert.equal(own.status, 429, 'the owner, refused by the same cap, is told of their own consoles');
      assert.match(own.detail, /You already have 2 open consoles/);
      assert.equal((await viewers(owner)).length, 2);
    } finally {
      first.close();
      await first.whenClosed();
    }
    await waitFor('a place is free again', async () => (await tryShare(token)).status === 101, 5000);
    mine.close();
  });

  test('links die with the VM: its end revokes them and closes their consoles', async () => {
    const owner = await ownerWithVm();
    const made = await share(owner, { mode: 'view_only' });
    const visitor = await visit(tokenOf(made));
    const stop = await api(server, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 });
    assert.equal(stop.status, 200, stop.text);
    await visitor.whenClosed();
    const res = await info(tokenOf(made));
    assert.equal(res.status, 410);
    assert.match(res.body.detail, /no longer running/);
    await waitFor('the link revoked in the database', async () =>
      Number(await sqlValue(server, `SELECT revoked_at FROM share_links WHERE id = ${made.body.id}`)) > 0, 10000);
    // A new VM of the same owner does not revive the old links.
    const again = await api(server, 'POST', '/run-script', { token: owner.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
    assert.equal(again.status, 200);
    assert.equal((await info(tokenOf(made))).status, 410);
    assert.deepEqual((await api(server, 'GET', '/vm/shares', { token: owner.token })).body, []);
  });

  test('the /share page is a page like the others; no token ever reaches the server log', async () => {
    const page = await api(server, 'GET', '/share');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy'], /default-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.match(page.headers['referrer-policy'], /same-origin|no-referrer|strict/);
    assert.ok(tokens.length >= 8, `tokens seen: ${tokens.length}`);
    const log = server.logs();
    assert.match(log, /share\/ws/, 'the share console is in the access log (as its route)');
    for (const t of tokens) assert.ok(!log.includes(t), 'a token in the server log');
    for (const t of tokens) assert.ok(!log.includes(t.slice(0, 16)), 'part of a token in the server log');
  });
});

// Security review (helper `review`): what a link's visitor could keep after the link ends.
describe('share links: an ended link leaves no console open', () => {
  test('an open console of a link is closed when the link expires', async () => {
    const owner = await ownerWithVm();
    const made = await share(owner, { mode: 'view_only', minutes: 5 });
    const soon = Math.floor(Date.now() / 1000) + 3;
    await sqlValue(server, `UPDATE share_links SET expires_at = ${soon} WHERE id = ${made.body.id}`);
    const visitor = await visit(tokenOf(made));
    try {
      const closed = await Promise.race([visitor.whenClosed(), new Promise((r) => setTimeout(() => r(null), 10000))]);
      assert.ok(closed, 'the console outlived its link');
      assert.match(closed.reason, /expired/);
      assert.equal((await info(tokenOf(made))).status, 410);
    } finally {
      visitor.close();
    }
  });
});
