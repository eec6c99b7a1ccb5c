// QEMU confinement with real QEMU (issues 7 and 11): when vmshare runs as root, each VM's QEMU
// runs as its own unprivileged user with no capabilities and an allowlisted environment, works
// from descriptors vmshare passed (it can open no file of the data folder by path, not even its
// own disk), and sits in a cgroup with the VM's limits.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { multipart } from './lib/multipart.mjs';
import { api, registerUser } from './lib/server.mjs';
import { runScript, startVmServer, stopServers, waitFor } from './lib/vm_helpers.mjs';

const run = promisify(execFile);
const GRUB_ISO = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';
const root = process.getuid() === 0;
const skip = !root && 'confinement needs vmshare to run as root';
const MiB = 1024 * 1024;

// Whether a process with exactly this uid/gid, no groups and no capabilities (QEMU's
// credentials) can read the file.
async function canRead(uid, file) {
  try {
    await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all',
      '--bounding-set=-all', '--', 'head', '-c', '1', file], { timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

function statusField(pid, name) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line.slice(name.length + 1).trim().split(/\s+/);
}

// The VM's cgroup limit files, wherever this host keeps them (v2 unified, or v1 hierarchies).
function cgroupLimits(pid) {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = (ctrl) => lines.find(([, c]) => c.split(',').includes(ctrl));
  const read = (f) => readFileSync(f, 'utf8').trim();
  if (v1('memory') && v1('pids') && v1('cpu')) {
    const dir = (ctrl) => path.join('/sys/fs/cgroup', v1(ctrl)[1], v1(ctrl)[2]);
    return {
      groups: ['memory', 'cpu', 'pids'].map(dir),
      memory: Number(read(path.join(dir('memory'), 'memory.limit_in_bytes'))),
      cpu: read(path.join(dir('cpu'), 'cpu.cfs_quota_us')),
      pids: read(path.join(dir('pids'), 'pids.max')),
    };
  }
  const unified = lines.find(([h]) => h === '0')[2];
  const dir = path.join('/sys/fs/cgroup', unified);
  return { groups: [dir], memory: Number(read(`${dir}/memory.max`)), cpu: read(`${dir}/cpu.max`).split(' ')[0], pids: read(`${dir}/pids.max`) };
}

let server, alice, bob;
before(async () => {
  if (skip) return;
  server = await startVmServer({ env: { VMSHARE_DISCONNECT_GRACE_S: '600', VMSHARE_STOP_TIMEOUT_S: '3' } });
  alice = await registerUser(server);
  bob = await registerUser(server);
});
after(async () => { await stopServers(server); });

test('each QEMU runs as its own user, reads only its own files, and has its limits', { skip }, async () => {
  assert.equal((await runScript(server, alice)).status, 200);
  // Bob boots an ISO: his uploaded file is private to his VM.
  const iso = existsSync(GRUB_ISO) ? readFileSync(GRUB_ISO) : Buffer.alloc(64 * 1024);
  const up = await api(server, 'POST', '/api/post', { token: bob.token, ...multipart('file', 'b.iso', iso), timeoutMs: 60000 });
  if (up.status === 200) assert.equal((await api(server, 'POST', '/run-iso', { token: bob.token })).status, 200);
  else assert.equal((await runScript(server, bob)).status, 200, up.text);

  const vmsDir = path.join(server.dataDir, 'vms');
  const records = readdirSync(vmsDir).map((d) => JSON.parse(readFileSync(path.join(vmsDir, d, 'state.json'), 'utf8')));
  assert.equal(records.length, 2);
  const [a, b] = [records.find((r) => r.os_type === 'tiny'), records.find((r) => r !== records.find((x) => x.os_type === 'tiny'))];

  for (const r of [a, b]) {
    // The process QEMU became (setpriv execs it under the same pid) has dropped everything.
    await waitFor(`QEMU of ${r.vmid} running as its user`, async () => ({ ok: statusField(r.pid, 'Uid')[0] === String(r.uid) }));
    assert.ok(r.uid >= 1000, `uid ${r.uid}`);
    assert.deepEqual(statusField(r.pid, 'Uid'), Array(4).fill(String(r.uid)), 'real, effective, saved and fs uid');
    assert.deepEqual(statusField(r.pid, 'Gid'), Array(4).fill(String(r.uid)));
    assert.deepEqual(statusField(r.pid, 'CapEff'), ['0000000000000000']);
    assert.deepEqual(statusField(r.pid, 'CapBnd'), ['0000000000000000']);
    assert.deepEqual(statusField(r.pid, 'NoNewPrivs'), ['1']);
    assert.deepEqual(statusField(r.pid, 'Seccomp'), ['2'], '-sandbox on installs a seccomp filter');
  }
  assert.notEqual(a.uid, b.uid, 'two VMs never share a user');

  // Positive control first, so the denials below mean something: the VM's user can read a
  // world-readable file; QEMU itself holds its disks as descriptors (/proc/<pid>/fd).
  assert.ok(await canRead(a.uid, '/etc/hostname'), 'the VM user can read what everyone can');
  assert.ok(existsSync(`/proc/${a.pid}/fd/4`), 'the overlay was passed as fd 4');

  for (const r of [a, b]) {
    assert.equal(await canRead(r.uid, path.join(r.run_dir, 'disk.qcow2')), false, 'not even its own overlay by path');
    assert.equal(await canRead(r.uid, path.join(r.run_dir, 'state.json')), false, "vmshare's record of it");
    assert.equal(await canRead(r.uid, path.join(r.run_dir, 'qemu.log')), false);
    // Its environment is the allowlist: none of vmshare's settings or secrets.
    const environ = readFileSync(`/proc/${r.pid}/environ`, 'utf8').split('\0').filter(Boolean).map((e) => e.split('=')[0]).sort();
    assert.deepEqual(environ, ['LANG', 'PATH'], `QEMU's environment: ${environ.join(' ')}`);
  }
  assert.equal(await canRead(a.uid, path.join(b.run_dir, 'disk.qcow2')), false, "another VM's disk");
  for (const f of readdirSync(path.join(server.dataDir, 'isos')))
    assert.equal(await canRead(a.uid, path.join(server.dataDir, 'isos', f)), false, 'the uploaded ISOs');
  for (const f of ['secret_key', 'users.db'])
    if (existsSync(path.join(server.dataDir, f)))
      assert.equal(await canRead(a.uid, path.join(server.dataDir, f)), false, `vmshare's ${f}`);

  // cgroup limits: guest RAM + the default 512 MiB overhead, one core per vCPU, 512 tasks.
  if (/per-VM cgroup limits skipped/.test(server.logs())) {
    assert.fail(`this host should allow per-VM cgroups: ${server.logs().match(/limits skipped: .*/)[0]}`);
  }
  const limitsA = cgroupLimits(a.pid), limitsB = cgroupLimits(b.pid);
  assert.equal(limitsA.memory, (256 + 512) * MiB);
  assert.equal(limitsA.cpu, '100000');
  assert.equal(limitsA.pids, '512');
  assert.equal(limitsB.memory, ((b.os_type === 'custom' ? 512 : 256) + 512) * MiB);
  for (const g of limitsA.groups) assert.match(g, new RegExp(`/${a.vmid}$`));

  // Stopped VMs leave neither folders nor groups behind.
  for (const u of [alice, bob]) assert.equal((await api(server, 'POST', '/vm/stop', { token: u.token, timeoutMs: 60000 })).status, 200);
  await waitFor('VM folders gone', async () => ({ ok: readdirSync(vmsDir).length === 0 }));
  for (const g of [...limitsA.groups, ...limitsB.groups]) assert.equal(existsSync(g), false, `cgroup ${g} removed`);
});
