// VM policy with real QEMU: one VM per user under concurrent launches, the host-wide limit (503),
// who sees which sessions. The guests need not finish booting here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { api, registerUser, uniqueLogin } from './lib/server.mjs';
import {
  assertSessionVmids, createAdmin, launch, qemuPids, runScript, sessionsFor, startVmServer, stopServers,
  vmFolders,
} from './lib/vm_helpers.mjs';

describe('VM policy', () => {
  let server, alice, bob, aliceVm, bobVm;
  before(async () => {
    server = await startVmServer({ env: { VMSHARE_MAX_VMS: '2', VMSHARE_DISCONNECT_GRACE_S: '600' } });
    [alice, bob] = await Promise.all([registerUser(server), registerUser(server)]);
  });
  after(async () => { await stopServers(server); });

  test('10 concurrent /run-script for one user: all 200, one vmid, exactly one QEMU', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => runScript(server, alice)));
    for (const r of results) assert.equal(r.status, 200, r.text);
    const vmids = new Set(results.map((r) => r.body.vm.vmid));
    assert.equal(vmids.size, 1, `vmids: ${[...vmids]}`);
    aliceVm = [...vmids][0];
    assert.equal(results.filter((r) => /already running/i.test(r.body.message)).length, 9, 'nine got the running VM');
    assert.equal((await qemuPids(path.join(server.dataDir, 'vms', aliceVm))).length, 1);
    assert.equal((await qemuPids(server.dataDir)).length, 1, 'one QEMU in the whole data folder');
    assert.deepEqual(vmFolders(server), [aliceVm]);
    // And one more, sequentially: still the same VM.
    const again = await runScript(server, alice);
    assert.equal(again.body.vm.vmid, aliceVm);
  });

  test('VMSHARE_MAX_VMS=2: a third user gets 503 and nothing is left behind', async () => {
    bobVm = await launch(server, bob);
    const carol = await registerUser(server);
    const res = await runScript(server, carol);
    assert.equal(res.status, 503, res.text);
    assert.match(res.body.detail, /limit|capacity|try again/i);
    assert.equal((await qemuPids(server.dataDir)).length, 2);
    assert.deepEqual(vmFolders(server).sort(), [aliceVm, bobVm].sort());
    assert.equal((await api(server, 'GET', '/vm/status', { token: carol.token })).status, 404);
    // Users who already have a VM still get it back at the limit.
    assert.equal((await runScript(server, alice)).status, 200);
  });

  test('/sessions/active: users see their own, admins all; ?user_id of another user is 403 for users', async () => {
    const mine = await sessionsFor(server, alice);
    assertSessionVmids(server, mine, [aliceVm], [bobVm]);
    assert.ok(mine.every((s) => s.user_id === alice.id));
    const session = mine.find((s) => s.vmid === aliceVm);
    assert.equal(session.os_type, 'tiny');
    assert.ok(Date.parse(session.expires_at) > Date.parse(session.started_at));
    assert.equal((await api(server, 'GET', `/sessions/active?user_id=${alice.id}`, { token: alice.token })).status, 200);
    const spying = await api(server, 'GET', `/sessions/active?user_id=${bob.id}`, { token: alice.token });
    assert.equal(spying.status, 403, spying.text);
    assert.equal((await api(server, 'GET', '/sessions/active')).status, 401);

    const admin = await createAdmin(server, uniqueLogin('admin'), 'admin password 1');
    const all = await api(server, 'GET', '/sessions/active?limit=1000', { token: admin.token });
    assert.equal(all.status, 200, all.text);
    assertSessionVmids(server, all.body, [aliceVm, bobVm]);
    const onlyBob = await api(server, 'GET', `/sessions/active?user_id=${bob.id}&limit=1000`, { token: admin.token });
    assertSessionVmids(server, onlyBob.body, [bobVm], [aliceVm]);
    assert.ok(onlyBob.body.every((s) => s.user_id === bob.id));
    const limited = await api(server, 'GET', '/sessions/active?limit=1', { token: admin.token });
    assert.equal(limited.body.length, 1);
  });
});
