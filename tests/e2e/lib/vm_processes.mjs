// Finding a VM's QEMU (or fake QEMU) from outside: its command line names no path of ours (it
// gets descriptors), so it is found by the monitor socket it holds, which vmshare bound in
// <data>/vms/<vmid>/qmp.sock and passed on at spawn.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// [{pid, args}] of processes whose args include `program` and that hold a socket under `dir`.
export async function processesHoldingSocketsUnder(dir, program) {
  const { stdout: sockets } = await run('ss', ['-xlpH']);
  const holders = new Set();
  for (const line of sockets.split('\n')) {
    if (!line.includes(`${dir}/`)) continue;
    for (const m of line.matchAll(/pid=(\d+)/g)) holders.add(Number(m[1]));
  }
  const { stdout } = await run('ps', ['-ww', '-eo', 'pid=,args=']);
  return stdout.split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(.*)$/))
    .filter((m) => m && m[2].includes(program) && holders.has(Number(m[1])))
    .map((m) => ({ pid: Number(m[1]), args: m[2] }));
}
