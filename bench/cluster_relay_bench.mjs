// Cluster benchmark (issue 13 item 7), by hand, never a timed test. Two vmshare nodes (127.0.0.2
// and .3) with fake QEMU, sharing PostgreSQL and Redis (scripts/services.sh):
//  1. one console, direct on the VM's node vs relayed through the other node, in alternating
//     rounds (bench/console_bench: frames/s, p50/p99 latency; CPU per frame of the relaying node,
//     its own process, with --cpu-pid);
//  2. /run-script latency for new VMs sent to the node placement picks (local launch) vs to the
//     other node (placed, forwarded over the internal channel), each VM stopped after.
// Usage: source scripts/services.sh && services_start
//        VMSHARE_E2E_STORAGE=production node bench/cluster_relay_bench.mjs [build-dir]
// Env: BENCH_SECONDS (5), ROUNDS (3), LAUNCHES (10)
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { startCluster } from '../tests/e2e/lib/cluster.mjs';
import { ROOT, api, registerUser } from '../tests/e2e/lib/server.mjs';

const run = promisify(execFile);
const BUILD = path.resolve(process.argv[2] || path.join(ROOT, 'build'));
const SECS = Number(process.env.BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.ROUNDS || 3);
const LAUNCHES = Number(process.env.LAUNCHES || 10);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const parse = (line) => Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=')).filter((p) => p.length === 2).map(([k, v]) => [k, Number.isNaN(Number(v)) ? v : Number(v)]));

async function consoleRun(label, node, vmid, user, cpuPid) {
  const args = ['--ws', `${node.host}:${node.port}/ws/${vmid}`, '--cookie', user.cookie, '--origin', node.url,
    '--seconds', String(SECS), '--label', label, '--cpu-pid', String(cpuPid)];
  const { stdout } = await run(path.join(BUILD, 'bench/console_bench'), args, { timeout: (SECS + 30) * 1000 });
  return parse(stdout.split('\n').filter((l) => l.startsWith('label='))[0]);
}

async function timedLaunch(node, user) {
  const t0 = process.hrtime.bigint();
  const res = await api(node, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`launch: ${res.status} ${res.text}`);
  await api(node, 'POST', '/vm/stop', { token: user.token });
  return ms;
}

// The second node has more memory for VMs: placement always picks it.
const cluster = await startCluster({ hosts: ['127.0.0.2', '127.0.0.3'], env: { VMSHARE_HEARTBEAT_S: '2', VMSHARE_NODE_DEAD_S: '10' },
  perNode: [{}, { VMSHARE_NODE_MEMORY_MB: '1000000' }] });
try {
  const [relay, owner] = cluster.nodes;
  const user = await registerUser(owner);
  const launched = await api(relay, 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' } });
  const vmid = launched.body.vm.vmid;
  const where = await cluster.psql(`SELECT node FROM vms WHERE vmid = '${vmid}'`);
  if (where !== owner.nodeId) throw new Error(`placed on ${where}, expected ${owner.nodeId}`);
  const results = { direct: [], relayed: [] };
  for (let r = 0; r < ROUNDS; ++r) {
    results.direct.push(await consoleRun('direct', owner, vmid, user, owner.proc.pid));
    results.relayed.push(await consoleRun('relayed', relay, vmid, user, relay.proc.pid));
  }
  for (const [k, rs] of Object.entries(results))
    for (const x of rs) console.log(`${k}: fps=${x.fps} p50_ms=${x.p50_ms} p99_ms=${x.p99_ms} cpu_self_us_per_frame=${x.cpu_self_us_per_frame}`);
  const m = (k, f) => median(results[k].map((x) => x[f]));
  console.log(`console median: direct fps=${m('direct', 'fps')} p50=${m('direct', 'p50_ms')} ms | relayed fps=${m('relayed', 'fps')} ` +
    `p50=${m('relayed', 'p50_ms')} ms | fps ratio=${(m('relayed', 'fps') / m('direct', 'fps')).toFixed(2)} ` +
    `added p50=${(m('relayed', 'p50_ms') - m('direct', 'p50_ms')).toFixed(2)} ms | relaying node cpu_self_us_per_frame=${m('relayed', 'cpu_self_us_per_frame')} ` +
    `(owner node, direct: ${m('direct', 'cpu_self_us_per_frame')})`);
  await api(owner, 'POST', '/vm/stop', { token: user.token });

  const launches = { local: [], placed: [] };
  const users = [];
  for (let i = 0; i < LAUNCHES; ++i) users.push(await registerUser(owner));
  for (const u of users) {
    launches.local.push(await timedLaunch(owner, u));
    launches.placed.push(await timedLaunch(relay, u));
  }
  console.log(`/run-script new VM, median of ${LAUNCHES}: on the node placement picks ${median(launches.local).toFixed(1)} ms, ` +
    `through the other node ${median(launches.placed).toFixed(1)} ms`);
  const again = { owner: [], other: [] };
  const u = users[0];
  await api(owner, 'POST', '/run-script', { token: u.token, json: { os_type: 'fake' } });
  for (let i = 0; i < 50; ++i) {
    for (const [k, n] of [['owner', owner], ['other', relay]]) {
      const t0 = process.hrtime.bigint();
      await api(n, 'GET', '/vm/status', { token: u.token });
      again[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  console.log(`/vm/status, median of 50: owner ${median(again.owner).toFixed(2)} ms, other node (forwarded) ${median(again.other).toFixed(2)} ms`);
  await api(owner, 'POST', '/vm/stop', { token: u.token });
} finally {
  await cluster.stop();
}
