// Finding a VM's QEMU (or fake QEMU) from outside. Its command line names no path of ours (it
// gets descriptors), so it is found by the monitor socket it holds, which vmshare bound in
// <data>/vms/<vmid>/qmp.sock and passed on at spawn; and by its uid, which comes from the range
// the harness gives each data folder (VMSHARE_VM_UID_BASE, lib/server.mjs), so processes of
// other test files' servers, which have other folders and ranges, are never matched.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The uids the harness reserves per data folder (vmUidBaseFor in lib/server.mjs).
export const VM_UID_SPAN = 1024;

// Pids in `ss -xlpH` output that hold a listening socket under `dir`.
export function socketHolders(ssOutput, dir) {
  const holders = new Set();
  for (const line of ssOutput.split('\n')) {
    if (!line.includes(`${dir}/`)) continue;
    for (const m of line.matchAll(/pid=(\d+)/g)) holders.add(Number(m[1]));
  }
  return holders;
}

// [{pid, uid, args}] from `ps -ww -eo pid=,uid=,args=` (procps prints uids past 2^31 negative).
export function parsePs(psOutput) {
  return psOutput.split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(-?\d+)\s+(.*)$/))
    .filter(Boolean)
    .map((m) => ({ pid: Number(m[1]), uid: (Number(m[2]) + 2 ** 32) % 2 ** 32, args: m[3] }));
}

// The processes of the VMs a server with this data folder (and VM uid base, if any) started:
// holders of a socket in the folder or runners as one of its VM uids. Never `exclude` (the
// server itself) nor this process.
export function vmProcessesFrom({ ss, ps }, { dataDir, uidBase, exclude = [] }) {
  const holders = socketHolders(ss, dataDir);
  const base = uidBase ? Number(uidBase) : NaN;
  const skip = new Set([process.pid, ...exclude]);
  return parsePs(ps)
    .filter((p) => !skip.has(p.pid))
    .filter((p) => holders.has(p.pid) || (p.uid >= base && p.uid < base + VM_UID_SPAN))
    .map(({ pid, args }) => ({ pid, args }));
}

const PS_ARGS = ['-ww', '-eo', 'pid=,uid=,args='];

export async function vmProcessesOf(owner) {
  const [{ stdout: ss }, { stdout: ps }] = await Promise.all([run('ss', ['-xlpH']), run('ps', PS_ARGS)]);
  return vmProcessesFrom({ ss, ps }, owner);
}

// For a process 'exit' handler, where nothing asynchronous runs any more.
export function vmProcessesOfSync(owner) {
  const ss = execFileSync('ss', ['-xlpH'], { encoding: 'utf8' });
  const ps = execFileSync('ps', PS_ARGS, { encoding: 'utf8' });
  return vmProcessesFrom({ ss, ps }, owner);
}

export function killAll(procs) {
  for (const { pid } of procs) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
}

// [{pid, args}] of processes whose args include `program` and that hold a socket under `dir`.
export async function processesHoldingSocketsUnder(dir, program) {
  const [{ stdout: ss }, { stdout: ps }] = await Promise.all([run('ss', ['-xlpH']), run('ps', PS_ARGS)]);
  const holders = socketHolders(ss, dir);
  return parsePs(ps)
    .filter((p) => p.args.includes(program) && holders.has(p.pid))
    .map(({ pid, args }) => ({ pid, args }));
}
