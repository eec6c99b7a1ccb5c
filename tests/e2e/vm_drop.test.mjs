// Files dropped into a VM on a USB stick and back (POST /vm/drop, /vm/drop/eject, GET
// /vm/drop/files[/<name>]). With the fake QEMU (bench/fake_rfb_qemu: it plugs and unplugs without
// a guest, so the files read back are the ones dropped): the round trip, names, quota, caps and
// refusals. With the real tiny guest: a dropped file shows in `ls /mnt/usb` on its console (OCR)
// and a file the guest writes there comes back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { fakeProcs, killFakes, startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from './lib/screen_text.mjs';
import { api, randomSuffix, registerUser, runVmshare } from './lib/server.mjs';
import { IMAGES, consoleUrl, launch, runScript, saveArtifact, startVmServer, stopServers, waitFor } from './lib/vm_helpers.mjs';

// A multipart body with several parts named "files".
function filesBody(files, field = 'files') {
  const boundary = `----vmshare${randomSuffix(8)}`;
  const parts = files.map(({ name, data }) => Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${name}"\r\n`
      + 'Content-Type: application/octet-stream\r\n\r\n'),
    Buffer.from(data), Buffer.from('\r\n')]));
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } };
}

const drop = (server, user, files, opts = {}) => {
  const { body, headers } = filesBody(files, opts.field);
  return api(server, 'POST', '/vm/drop', { token: user.token, body, headers, timeoutMs: 60000 });
};
const eject = (server, user) => api(server, 'POST', '/vm/drop/eject', { token: user.token, timeoutMs: 60000 });
const launchFake = async (server, user) => {
  const res = await runScript(server, user, 'fake');
  assert.equal(res.status, 200, res.text);
  return res.body.vm.vmid;
};
const me = async (server, user) => (await api(server, 'GET', '/me', { token: user.token })).body;
const dropFolders = (server) => {
  const dir = path.join(server.dataDir, 'drops');
  return existsSync(dir) ? readdirSync(dir) : [];
};

// mdir and mtype wrappers first in vmshare's PATH (it resolves the tools there at start-up): they
// pass through to the real ones, except that a stick holding probe.txt also lists whoami.txt,
// whose content is what the reader that mtools runs as can see and do: its uid, privileges,
// limits, environment, descriptors, and whether it can open the file named in probe.txt.
function probingMtools() {
  const real = (tool) => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-mtools-'));
  chmodSync(dir, 0o755);  // the reader runs as a VM's uid
  const write = (name, text) => {
    writeFileSync(path.join(dir, name), text);
    chmodSync(path.join(dir, name), 0o755);
  };
  write('mdir', `#!/bin/sh
out=$(${real('mdir')} "$@"); rc=$?
[ -n "$out" ] && printf '%s\n' "$out"
case "$out" in *::/probe.txt*) echo '::/whoami.txt';; esac
exit $rc
`);
  write('mtype', `#!/bin/sh
[ "$3" = ::/whoami.txt ] || exec ${real('mtype')} "$@"
echo "uid=$(id -u) groups=$(id -G)"
grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status
grep -E '^Max (cpu time|file size|address space|open files) ' /proc/self/limits
echo "cwd=$(pwd)"
echo "env=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "fds=$(ls /proc/self/fd | sort -n | tr '\n' ' ')"
target=$(${real('mtype')} -i "$2" ::/probe.txt)
if ls "$target" >/dev/null 2>&1; then echo folder=readable; else echo folder=refused; fi
`);
  return dir;
}

describe('drop files with the fake QEMU', () => {
  let server, owner, other, mtools;
  before(async () => {
    mtools = probingMtools();
    server = await startFakeVmServer({ env: { VMSHARE_DROP_MAX_MB: '16', PATH: `${mtools}:${process.env.PATH}` } });
    [owner, other] = await Promise.all([registerUser(server), registerUser(server)]);
  });
  after(async () => {
    await server?.stop();  // ends its fake QEMUs too (lib/server.mjs)
    if (mtools) rmSync(mtools, { recursive: true, force: true });
  });

  test('without a VM: 404; without credentials: 401', async () => {
    const res = await drop(server, owner, [{ name: 'a.txt', data: 'a' }]);
    assert.equal(res.status, 404, res.text);
    assert.equal((await eject(server, owner)).status, 404);
    assert.equal((await api(server, 'GET', '/vm/drop/files', { token: owner.token })).status, 404);
    assert.equal((await api(server, 'POST', '/vm/drop/eject')).status, 401);
    const status = await api(server, 'GET', '/vm/drop', { token: owner.token });
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.vmid, null);
    assert.equal(status.body.state, 'none');
  });

  test('drop, 409 while plugged, eject, the files come back with safe names, quota charged then refunded', async () => {
    await launchFake(server, owner);
    const before = (await me(server, owner)).snapshot_stored_mb;
    const res = await drop(server, owner, [
      { name: 'hello.txt', data: 'hello from the host\n' },
      { name: '../../etc/evil:name?.txt', data: 'evil' },
      { name: 'HELLO.TXT', data: 'second' },
    ]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.files.map((f) => f.name), ['hello.txt', 'evil_name_.txt', 'HELLO (2).TXT']);
    assert.deepEqual(res.body.files.map((f) => f.size), [20, 4, 6]);
    assert.equal(res.body.label, 'VMSHARE');
    assert.ok(res.body.stick_mb >= 8, res.text);
    assert.equal((await me(server, owner)).snapshot_stored_mb, before + res.body.stick_mb, 'the stick counts against the quota');

    const status = await api(server, 'GET', '/vm/drop', { token: owner.token });
    assert.equal(status.body.state, 'plugged', status.text);
    const again = await drop(server, owner, [{ name: 'b.txt', data: 'b' }]);
    assert.equal(again.status, 409, again.text);
    assert.match(again.body.detail, /eject/i);
    const early = await api(server, 'GET', '/vm/drop/files', { token: owner.token });
    assert.equal(early.status, 409, early.text);
    assert.equal((await eject(server, other)).status, 404, 'another user has no VM');

    const out = await eject(server, owner);
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.body.files.map((f) => f.name).sort(), ['HELLO (2).TXT', 'evil_name_.txt', 'hello.txt']);
    const list = await api(server, 'GET', '/vm/drop/files', { token: owner.token });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.length, 3);
    const file = await api(server, 'GET', `/vm/drop/files/${encodeURIComponent('HELLO (2).TXT')}`, { token: owner.token });
    assert.equal(file.status, 200, file.text);
    assert.equal(file.text, 'second');
    assert.match(file.headers['content-disposition'], /^attachment; filename="HELLO \(2\)\.TXT"; filename\*=UTF-8''HELLO%20%282%29\.TXT$/);
    // Like snapshots and recordings, a download resumes from an offset (http/file_download.h).
    const rest = await api(server, 'GET', `/vm/drop/files/${encodeURIComponent('HELLO (2).TXT')}`, { token: owner.token, headers: { Range: 'bytes=2-' } });
    assert.equal(rest.status, 206, rest.text);
    assert.equal(rest.text, 'cond');
    assert.equal(rest.headers['content-range'], 'bytes 2-5/6');
    assert.equal((await api(server, 'GET', '/vm/drop/files/..%2F..%2Fvmshare.db', { token: owner.token })).status, 404);
    assert.equal((await api(server, 'GET', '/vm/drop/files/nope.txt', { token: owner.token })).status, 404);
    assert.equal((await api(server, 'GET', '/vm/drop/files/hello.txt', { token: other.token })).status, 404);
    assert.equal((await eject(server, owner)).status, 200, 'a second eject answers the same');

    // A new drop replaces the stick; stopping the VM removes it and refunds the quota.
    const next = await drop(server, owner, [{ name: 'next.bin', data: Buffer.alloc(3000, 7) }]);
    assert.equal(next.status, 200, next.text);
    assert.equal(dropFolders(server).length, 1, 'one stick for the VM');
    assert.equal((await api(server, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 })).status, 200);
    await waitFor('the stick removed with its VM', async () => dropFolders(server).length === 0, 10000);
    assert.equal((await me(server, owner)).snapshot_stored_mb, before, 'the quota given back');
  });

  test('the stick a guest wrote is read by mtools confined: the VM uid, no privileges, limits, nothing of vmshare\'s', async () => {
    await launchFake(server, owner);
    const drops = path.join(server.dataDir, 'drops');
    const res = await drop(server, owner, [{ name: 'probe.txt', data: drops }]);
    assert.equal(res.status, 200, res.text);
    const out = await eject(server, owner);
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.body.files.map((f) => f.name).sort(), ['probe.txt', 'whoami.txt']);
    const who = (await api(server, 'GET', '/vm/drop/files/whoami.txt', { token: owner.token })).text;
    const field = (name) => who.match(new RegExp(`^${name}[=:]\\s*(.*)$`, 'm'))?.[1];
    assert.equal(field('NoNewPrivs'), '1', who);
    assert.equal(field('CapEff'), '0000000000000000', who);
    assert.match(who, /^Max cpu time\s+20\s+20\s/m);
    assert.match(who, /^Max file size\s+0\s+0\s/m);
    assert.match(who, /^Max open files\s+16\s+16\s/m);
    assert.equal(field('cwd'), '/');
    assert.equal(field('env').trim(), 'LANG MTOOLS_SKIP_CHECK PATH PWD', 'a closed environment (PWD is the shell\'s own)');
    assert.equal(field('fds').trim(), '0 1 2 3 4', 'stdio, the image copy, ls\'s own');
    if (process.getuid() === 0) {
      // Started as root, QEMU is confined: the reader is the VM's own uid, as its QEMU is.
      const [qemu] = await fakeProcs(server.dataDir);
      const qemuUid = Number(readFileSync(`/proc/${qemu.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)[1]);
      const uid = Number(field('uid').split(' ')[0]);
      assert.equal(uid, qemuUid, who);
      assert.ok(uid >= Number(server.env.VMSHARE_VM_UID_BASE), who);
      assert.equal(field('uid'), `${uid} groups=${uid}`, 'no supplementary group');
      assert.equal(field('CapBnd'), '0000000000000000', who);
      assert.equal(field('folder'), 'refused', 'the drops folder is out of reach');
    } else {
      assert.equal(Number(field('uid').split(' ')[0]), process.getuid());
      assert.equal(server.logs().match(/mtools reads the sticks guests wrote as vmshare's own user/g)?.length, 1, 'said once');
    }
    assert.equal((await api(server, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 })).status, 200);
  });

  test('refusals: no files 400, not multipart 400, over the size cap 413, over quota 413', async () => {
    await launchFake(server, owner);
    const none = await drop(server, owner, [{ name: 'x.txt', data: 'x' }], { field: 'other' });
    assert.equal(none.status, 400, none.text);
    const plain = await api(server, 'POST', '/vm/drop', { token: owner.token, json: { files: [] } });
    assert.equal(plain.status, 400, plain.text);
    const big = await drop(server, owner, [{ name: 'big.bin', data: Buffer.alloc(16 << 20) }]);
    assert.equal(big.status, 413, big.text);
    assert.match(big.body.detail, /16 MB/);

    const { code } = await runVmshare(['user', 'set-quota', owner.login, '4'], { env: server.env });
    assert.equal(code, 0);
    const over = await drop(server, owner, [{ name: 'a.txt', data: 'a' }]);
    assert.equal(over.status, 413, over.text);
    assert.match(over.body.detail, /quota/i);
    assert.deepEqual(dropFolders(server), [], 'refused drops leave nothing');
    assert.equal((await me(server, owner)).snapshot_stored_mb, 0);
    await runVmshare(['user', 'set-quota', owner.login, '300'], { env: server.env });
    const ok = await drop(server, owner, [{ name: 'a.txt', data: 'a' }]);
    assert.equal(ok.status, 200, ok.text);
  });
});

// vmshare restarted while a stick is plugged in: its QEMU (adopted) still has the stick, so the
// owner must still see it, eject it and get the files back, with the quota kept, not refunded.
describe('a restart of vmshare with a stick plugged in', () => {
  let first, second, owner;
  after(async () => {
    await first?.stop({ keepData: !!second });
    await second?.stop();
  });

  test('the stick is taken back: still plugged, 409 on a new drop, ejects with its files, quota kept', async () => {
    first = await startFakeVmServer({ env: { VMSHARE_DROP_MAX_MB: '16' } });
    owner = await registerUser(first);
    const vmid = await launchFake(first, owner);
    const res = await drop(first, owner, [{ name: 'kept.txt', data: 'across the restart\n' }]);
    assert.equal(res.status, 200, res.text);
    const charged = (await me(first, owner)).snapshot_stored_mb;
    assert.equal(charged, res.body.stick_mb);
    await first.stop({ keepData: true });  // SIGTERM: the VM keeps running, with the stick in it

    second = await startFakeVmServer({ dataDir: first.dataDir, env: first.env });
    assert.match(second.logs(), new RegExp(`vm ${vmid}: adopted`));
    const status = await api(second, 'GET', '/vm/drop', { token: owner.token });
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.state, 'plugged', status.text);
    assert.deepEqual(status.body.dropped.map((f) => f.name), ['kept.txt']);
    assert.equal((await me(second, owner)).snapshot_stored_mb, charged, 'the quota stays charged');
    const again = await drop(second, owner, [{ name: 'b.txt', data: 'b' }]);
    assert.equal(again.status, 409, again.text);

    const out = await eject(second, owner);
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.body.files.map((f) => f.name), ['kept.txt']);
    const file = await api(second, 'GET', '/vm/drop/files/kept.txt', { token: owner.token });
    assert.equal(file.text, 'across the restart\n');
    const next = await drop(second, owner, [{ name: 'next.txt', data: 'n' }]);
    assert.equal(next.status, 200, next.text);
    assert.equal(dropFolders(second).length, 1);
    assert.equal((await api(second, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 })).status, 200);
    await waitFor('the stick removed with its VM', async () => dropFolders(second).length === 0, 10000);
    assert.equal((await me(second, owner)).snapshot_stored_mb, 0, 'the quota given back');
  });

  test('a stick QEMU has but vmshare has no record of (a restart right after plugging) is unplugged', async () => {
    const vmid = await launchFake(second, owner);
    const res = await drop(second, owner, [{ name: 'unrecorded.txt', data: 'u' }]);
    assert.equal(res.status, 200, res.text);
    await second.stop({ keepData: true });
    // As if vmshare had stopped between device_add and writing stick.json.
    rmSync(path.join(second.dataDir, 'drops', dropFolders(second)[0], 'stick.json'));
    first = second;
    second = await startFakeVmServer({ dataDir: first.dataDir, env: first.env });
    assert.match(second.logs(), new RegExp(`vm ${vmid}: adopted`));
    assert.match(second.logs(), new RegExp(`vm ${vmid}: 1 USB stick\\(s\\) vmshare had no record of unplugged`));
    assert.equal((await api(second, 'GET', '/vm/drop', { token: owner.token })).body.state, 'none');
    assert.equal((await me(second, owner)).snapshot_stored_mb, 0, 'the quota given back');
    const next = await drop(second, owner, [{ name: 'next.txt', data: 'n' }]);
    assert.equal(next.status, 200, next.text);
    assert.equal((await eject(second, owner)).status, 200);
    assert.equal((await api(second, 'POST', '/vm/stop', { token: owner.token, timeoutMs: 60000 })).status, 200);
    await waitFor('the VM gone', async () => dropFolders(second).length === 0, 10000);
  });

  test('a stick whose VM died while vmshare was down is removed and its quota given back', async () => {
    const vmid = await launchFake(second, owner);
    const res = await drop(second, owner, [{ name: 'lost.txt', data: 'lost' }]);
    assert.equal(res.status, 200, res.text);
    assert.equal((await me(second, owner)).snapshot_stored_mb, res.body.stick_mb);
    await second.stop({ keepData: true });
    await killFakes(second.dataDir);
    first = second;
    second = await startFakeVmServer({ dataDir: first.dataDir, env: first.env });
    assert.doesNotMatch(second.logs(), new RegExp(`vm ${vmid}: adopted`));
    assert.deepEqual(dropFolders(second), []);
    assert.equal((await me(second, owner)).snapshot_stored_mb, 0, 'the quota given back');
    const status = await api(second, 'GET', '/vm/drop', { token: owner.token });
    assert.equal(status.body.state, 'none', status.text);
  });
});

// An image built before the guest mounted USB sticks says nothing of /mnt/usb in its catalog
// (scripts/setup.sh rebuilds it: the catalog text changed).
const guestSkip = !existsSync(IMAGES) ? `no guest catalog at ${IMAGES}`
  : !readFileSync(IMAGES, 'utf8').includes('/mnt/usb') ? `the tiny image at ${IMAGES} predates USB sticks: scripts/build-tiny-image.sh --force`
    : false;

describe('drop files with the real tiny guest', { skip: guestSkip }, () => {
  let server, owner, rfb;
  before(async () => {
    server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600' } });
    owner = await registerUser(server);
  });
  after(async () => {
    rfb?.close();
    if (server) saveArtifact('vm-drop-server.log', server.logs());
    await stopServers(server);
  });

  test('a dropped file shows in /mnt/usb, a file the guest writes comes back', { timeout: 300000 }, async () => {
    const vmid = await launch(server, owner);
    rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: owner.cookie, origin: server.url });
    const screen = async () => rfb.toPng();
    await waitForScreenText(screen, PROMPT, 150000);

    const res = await drop(server, owner, [{ name: 'FROMHOST.TXT', data: 'dropped by the test\n' }]);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.mounted_as, '/mnt/usb');
    // The guest mounts the stick a moment after it is plugged in: list until it shows.
    let seen;
    for (let i = 0; i < 6 && !seen; i++) {
      await rfb.typeText('clear; ls /mnt/usb\n');
      seen = await waitForScreenText(screen, /FROMHOST/, 10000).catch(() => null);
    }
    if (!seen) saveArtifact('vm-drop-no-file.png', rfb.toPng());
    assert.ok(seen, 'ls /mnt/usb never showed FROMHOST.TXT');
    saveArtifact('vm-drop-ls.png', seen.png);

    await rfb.typeText('echo hi > /mnt/usb/back.txt; sync\n');
    await waitFor('the guest wrote back.txt', async () => {
      await rfb.typeText('clear; ls /mnt/usb\n');
      return waitForScreenText(screen, /back/, 8000).catch(() => null);
    }, 40000, 0);
    const out = await eject(server, owner);
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.body.files.map((f) => f.name).sort(), ['FROMHOST.TXT', 'back.txt']);
    const back = await api(server, 'GET', '/vm/drop/files/back.txt', { token: owner.token });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.text, 'hi\n');
    // Pulled out: the guest no longer has it mounted (the quotes keep the command line from
    // matching the answer).
    await waitFor('the guest unmounted the stick', async () => {
      await rfb.typeText("clear; grep -q usb /proc/mounts || echo UN''MOUNTED\n");
      return waitForScreenText(screen, /^\s*UNMOUNTED\s*$/m, 8000).catch(() => null);
    }, 30000, 0);
  });
});
