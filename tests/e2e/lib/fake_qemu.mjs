// Servers whose "QEMU" is bench/fake_rfb_qemu (QMP + a synthetic RFB screen, no guest): VMs start
// and stop in milliseconds, for the adversarial and chaos tests. The catalog points at a small
// blank qcow2, so overlays and snapshots are real qcow2 files.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { ROOT, startServer } from './server.mjs';
import { processesHoldingSocketsUnder } from './vm_processes.mjs';

const run = promisify(execFile);
export const FAKE_QEMU = process.env.VMSHARE_E2E_FAKE_QEMU || path.join(ROOT, 'build/bench/fake_rfb_qemu');

// A catalog with one profile, "fake", on a fresh 16 MiB qcow2; resolves the catalog path.
export async function fakeCatalog() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-fake-img-'));
  chmodSync(dir, 0o755);  // vmshare opens the images itself; readable like any operator's catalog
  const base = path.join(dir, 'base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M'], { timeout: 30000 });
  const catalog = path.join(dir, 'catalog.json');
  writeFileSync(catalog, JSON.stringify({ profiles: [{ name: 'fake', title: 'Fake', base_image: base, memory_mb: 64, cpus: 1, kind: 'linux' }] }));
  return catalog;
}

export async function startFakeVmServer({ env = {}, ...opts } = {}) {
  if (!existsSync(FAKE_QEMU)) throw new Error(`no ${FAKE_QEMU}: cmake --build build --target fake_rfb_qemu`);
  const images = env.VMSHARE_IMAGES ?? await fakeCatalog();
  return startServer({ ...opts, env: { VMSHARE_QEMU: FAKE_QEMU, VMSHARE_ACCEL: 'tcg', VMSHARE_IMAGES: images, ...env } });
}

// {pid, args} of every fake QEMU whose command line names `dir`.
export async function fakeProcs(dir) {
  return processesHoldingSocketsUnder(dir, 'fake_rfb_qemu');
}

export async function killFakes(dir) {
  for (const { pid } of await fakeProcs(dir)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}
