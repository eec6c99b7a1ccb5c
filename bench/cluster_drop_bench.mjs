// Cluster benchmark (issue 15): a file dropped into a VM (POST /vm/drop) sent to the VM's own
// node against the same drop sent to the other node, which streams the body to the owner
// (cluster::Forwarder::forward_streaming). By hand, never a timed test. Two vmshare nodes
// (127.0.0.2 and .3) with fake QEMU sharing PostgreSQL and Redis; each drop is ejected before
// the next (a stick is plugged at most once per VM). Times are the client's, request to answer.
// Usage: source scripts/services.sh && services_start
//        VMSHARE_E2E_STORAGE=production node bench/cluster_drop_bench.mjs
// Env: DROP_MB (48; at most 60 with the 64 MB stick), ROUNDS (2), REPEATS (5)
import { startCluster } from '../tests/e2e/lib/cluster.mjs';
import { api, randomSuffix, registerUser } from '../tests/e2e/lib/server.mjs';

const DROP_MB = Number(process.env.DROP_MB || 48);
const ROUNDS = Number(process.env.ROUNDS || 2);
const REPEATS = Number(process.env.REPEATS || 5);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function dropBody(size) {
  const boundary = `----vmshare${randomSuffix(8)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="f.bin"\r\n\r\n`),
    Buffer.alloc(size, 3), Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } };
}

async function timeDrops(target, owner, user) {
  const ms = [];
  for (let i = 0; i < REPEATS; ++i) {
    const t0 = process.hrtime.bigint();
    const res = await api(target, 'POST', '/vm/drop', { token: user.token, ...dropBody(DROP_MB << 20), timeoutMs: 120000 });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 200) throw new Error(`drop: ${res.status} ${res.text}`);
    await api(owner, 'POST', '/vm/drop/eject', { token: user.token, timeoutMs: 60000 });
  }
  return ms;
}

const cluster = await startCluster({ hosts: ['127.0.0.2', '127.0.0.3'], env: { VMSHARE_DROP_MAX_MB: '64' } });
try {
  const user = await registerUser(cluster.nodes[0]);
  const launched = await api(cluster.nodes[0], 'POST', '/run-script', { token: user.token, json: { os_type: 'fake' } });
  if (launched.status !== 200) throw new Error(launched.text);
  const node = await cluster.psql(`SELECT node FROM vms WHERE vmid = '${launched.body.vm.vmid}'`);
  const owner = cluster.nodes.find((n) => n.nodeId === node);
  const other = cluster.nodes.find((n) => n.nodeId !== node);
  console.log(`round  direct_median_ms  direct_min  relayed_median_ms  relayed_min  (${DROP_MB} MiB, ${REPEATS} drops each)`);
  for (let round = 1; round <= ROUNDS; ++round) {
    const direct = await timeDrops(owner, owner, user);
    const relayed = await timeDrops(other, owner, user);
    console.log(`${round}  ${median(direct).toFixed(0)}  ${Math.min(...direct).toFixed(0)}  ${median(relayed).toFixed(0)}  ${Math.min(...relayed).toFixed(0)}`);
  }
} finally {
  await cluster.stop();
}
