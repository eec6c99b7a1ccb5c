// Several nodes with the real tiny guest (issue 13 item 6): a VM placed on another node than
// the one that took /run-script boots, and its console, relayed through the first node, shows
// the guest's shell and takes typing; the screenshot comes through the first node too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startCluster } from './lib/cluster.mjs';
import { RfbClient } from './lib/rfb_client.mjs';
import { PROMPT, waitForScreenText } from './lib/screen_text.mjs';
import { STORAGE, api, registerUser } from './lib/server.mjs';
import { IMAGES, killQemus, saveArtifact, screenshotOf } from './lib/vm_helpers.mjs';

const skip = STORAGE !== 'production' ? 'cluster mode needs PostgreSQL and Redis (VMSHARE_E2E_STORAGE=production)' : false;
const BOOT_MS = 150000;  // shared 2-core hosts: the prompt takes 30-90 s under TCG

let cluster;
before(async () => {
  if (skip) return;
  // node2 has more memory for VMs: placement picks it for a launch sent to node1.
  cluster = await startCluster({
    hosts: ['127.0.0.2', '127.0.0.3'],
    real: true,
    env: { VMSHARE_IMAGES: IMAGES, VMSHARE_ACCEL: process.env.VMSHARE_ACCEL || 'tcg' },
    perNode: [{}, { VMSHARE_NODE_MEMORY_MB: '1000000' }],
  });
});
after(async () => {
  if (!cluster) return;
  for (const n of cluster.nodes) await killQemus(n.dataDir);
  await cluster.stop();
});

test('the tiny guest placed on node2 through node1: its console and screenshot through node1', { skip, timeout: BOOT_MS + 60000 }, async () => {
  const [front, owner] = cluster.nodes;
  const user = await registerUser(front);
  const res = await api(front, 'POST', '/run-script', { token: user.token, json: { os_type: 'tiny' }, timeoutMs: 60000 });
  assert.equal(res.status, 200, res.text);
  const vmid = res.body.vm.vmid;
  assert.equal(await cluster.psql(`SELECT node FROM vms WHERE vmid = '${vmid}'`), owner.nodeId);
  const rfb = await RfbClient.connect(`ws://${front.host}:${front.port}/ws/${vmid}`, { cookie: user.cookie, origin: front.url });
  try {
    await waitForScreenText(async () => rfb.toPng(), PROMPT, BOOT_MS).catch((e) => {
      if (e.png) saveArtifact('cluster-guest-no-prompt.png', e.png);
      throw e;
    });
    await rfb.typeText('echo relayed\n');
    await waitForScreenText(async () => rfb.toPng(), /relayed[\s\S]*\n\s*relayed/, 30000);
    const shot = await waitForScreenText(screenshotOf(front, user), /relayed[\s\S]*\n\s*relayed/, 15000);
    saveArtifact('cluster-guest-relayed.png', shot.png);
  } finally {
    rfb.close();
  }
  const stop = await api(front, 'POST', '/vm/stop', { token: user.token, timeoutMs: 60000 });
  assert.equal(stop.status, 200, stop.text);
});
