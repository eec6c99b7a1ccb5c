// vmshare with exactly the capabilities deploy/vmshare.service leaves it (CapabilityBoundingSet,
// NoNewPrivileges): confined VMs start, show their console and screen, are snapshotted and
// stopped, and a VM folder left by an older version (owned by a VM uid) is removed at start-up.
// A capability the unit drops but the engine still needs fails here, not on a server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startFakeVmServer } from './lib/fake_qemu.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { ROOT, api, registerUser, sleep, vmUidBaseFor } from './lib/server.mjs';
import { consoleUrl, stopServers } from './lib/vm_helpers.mjs';

const UNIT = path.join(ROOT, 'deploy/vmshare.service');
const skip = process.getuid() !== 0 && 'the unit runs vmshare as root';
const OLD_VMID = 'oldversion000001';

// "CAP_SETUID CAP_KILL ..." from the unit, as setpriv's "-all,+setuid,+kill,...".
function unitBoundingSet() {
  const line = readFileSync(UNIT, 'utf8').split('\n').find((l) => l.startsWith('CapabilityBoundingSet='));
  const caps = line.slice('CapabilityBoundingSet='.length).trim().split(/\s+/).filter(Boolean);
  return { caps, setpriv: ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',') };
}

let server, user, unitCaps;
before(async () => {
  if (skip) return;
  unitCaps = unitBoundingSet();
  assert.ok(unitCaps.caps.length > 0, 'the unit names its capabilities');
  // A VM folder as versions before the VM engine v2 left it: owned by the VM's uid, 0700.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-e2e-'));
  const UID_BASE = Number(vmUidBaseFor(dataDir));  // the harness gives this folder's VMs these uids
  const oldDir = path.join(dataDir, 'vms', OLD_VMID);
  mkdirSync(oldDir, { recursive: true });
  writeFileSync(path.join(oldDir, 'state.json'), '{}');
  for (const p of [path.join(oldDir, 'state.json'), oldDir]) chownSync(p, UID_BASE + 7, UID_BASE + 7);
  chmodSync(oldDir, 0o700);
  server = await startFakeVmServer({
    dataDir,
    wrap: ['setpriv', `--bounding-set=${unitCaps.setpriv}`, '--no-new-privs', '--'],
  });
  user = await registerUser(server);
});
after(async () => { await stopServers(server); });

test("vmshare runs with the unit's capability bounding set and no more", { skip }, () => {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  const hex = (name) => BigInt(`0x${status.match(new RegExp(`${name}:\\s+([0-9a-f]+)`))[1]}`);
  const decoded = execFileSync('capsh', [`--decode=${hex('CapBnd').toString(16)}`], { encoding: 'utf8' });
  const names = decoded.split('=')[1].trim().split(',').map((c) => c.toUpperCase()).sort();
  assert.deepEqual(names, [...unitCaps.caps].sort());
  assert.equal(hex('CapEff'), hex('CapBnd'), 'root keeps exactly the bounding set');
});

test('a VM folder an older version handed to a VM uid is removed at start-up', { skip }, () => {
  assert.equal(existsSync(path.join(server.dataDir, 'vms', OLD_VMID)), false);
});

test('a confined VM starts, shows its screen and console, is snapshotted and stops', { skip }, async () => {
  const res = await api(server, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 30000 });
  assert.equal(res.status, 200, `${res.text}\n${server.logs()}`);
  const vmid = res.body.vm.vmid;
  const shot = await api(server, 'GET', '/vm/screenshot', { token: user.token });
  assert.equal(shot.status, 200, shot.text);
  assert.equal(shot.raw.subarray(0, 8).toString('latin1'), '\x89PNG\r\n\x1a\n');
  const rfb = await RfbClient.connect(consoleUrl(server, vmid), { cookie: user.cookie, origin: server.url });
  try {
    await rfb.waitForUpdate(10000, () => rfb.nonBlackPixels() > 0);
  } finally {
    rfb.close();
  }
  // A USB stick round trip: the read-back's mtools switches to the VM's uid with these capabilities.
  const boundary = 'vmshare-caps-test';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhi\r\n--${boundary}--\r\n`;
  const dropped = await api(server, 'POST', '/vm/drop', {
    token: user.token, body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, timeoutMs: 60000,
  });
  assert.equal(dropped.status, 200, dropped.text);
  const ejected = await api(server, 'POST', '/vm/drop/eject', { token: user.token, timeoutMs: 60000 });
  assert.equal(ejected.status, 200, ejected.text);
  assert.deepEqual([ejected.body.files, ejected.body.skipped], [[{ name: 'a.txt', size: 2 }], 0], server.logs());
  const snap = await api(server, 'POST', '/snapshot', { token: user.token, json: { os_type: 'fake' }, timeoutMs: 60000 });
  assert.equal(snap.status, 200, `${snap.text}\n${server.logs()}`);
  const stop = await api(server, 'POST', '/vm/stop', { token: user.token, json: {}, timeoutMs: 60000 });
  assert.equal(stop.status, 200, stop.text);
  for (let i = 0; i < 100 && existsSync(path.join(server.dataDir, 'vms', vmid)); i++) await sleep(100);
  assert.equal(existsSync(path.join(server.dataDir, 'vms', vmid)), false, 'the stopped VM is cleaned up');
});
