// One account trying to take every ISO upload slot (issue 12, item 6) while 3 other accounts
// upload 64 KiB ISOs back to back for SECONDS; prints what the others got.
//   MODE=trickle: the hog holds 8 uploads that send one byte a second (the case)
//   MODE=hammer:  the hog holds one such upload and 7 loops re-send refused uploads at once
// Usage: MODE=trickle node bench/upload_hog.mjs   (env: SECONDS 10, VMSHARE_BIN build/vmshare)
// The server runs with 8 workers, so the node has 4 upload slots.
import net from 'node:net';

import { multipart } from '../tests/e2e/lib/multipart.mjs';
import { api, registerUser, startServer } from '../tests/e2e/lib/server.mjs';

const MODE = process.env.MODE ?? 'trickle';
const SECONDS = Number(process.env.SECONDS ?? 10);
if (!['trickle', 'hammer'].includes(MODE)) throw new Error('MODE must be trickle or hammer');

const server = await startServer({ storage: 'embedded', env: { VMSHARE_WORKER_THREADS: '8', READ_TIMEOUT_S: '30' } });
const count = (map, key) => { map[key] = (map[key] ?? 0) + 1; };
try {
  const hog = await registerUser(server);
  const others = await Promise.all([1, 2, 3].map(() => registerUser(server)));
  const iso = Buffer.alloc(64 << 10);
  iso.write('CD001', 0x8001, 'latin1');
  const upload = (u) => {
    const { body, headers } = multipart('file', 'disk.iso', iso);
    return api(server, 'POST', '/api/post', { token: u.token, body, headers }).catch((e) => ({ status: e.code }));
  };
  // An upload announcing 1 MiB that sends one byte a second; returns its stopper.
  const trickle = () => {
    const sock = net.connect(server.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(`POST /api/post HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${hog.token}\r\n` +
      `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${1 << 20}\r\n\r\n`);
    const timer = setInterval(() => sock.write('-'), 1000);
    return () => { clearInterval(timer); sock.destroy(); };
  };
  const stoppers = Array.from({ length: MODE === 'trickle' ? 8 : 1 }, trickle);
  await new Promise((r) => setTimeout(r, 300));
  let stop = false;
  const hogStatuses = {}, otherStatuses = {};
  const loop = async (u, into) => { while (!stop) count(into, (await upload(u)).status); };
  const loops = [...others.map((u) => loop(u, otherStatuses)),
    ...(MODE === 'hammer' ? Array.from({ length: 7 }, () => loop(hog, hogStatuses)) : [])];
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  stop = true;
  await Promise.all(loops);
  for (const s of stoppers) s();
  const ok = otherStatuses[200] ?? 0, all = Object.values(otherStatuses).reduce((a, b) => a + b, 0);
  console.log(`mode=${MODE} seconds=${SECONDS} others: ${JSON.stringify(otherStatuses)} (${(100 * ok / Math.max(1, all)).toFixed(1)}% ok)` +
    (MODE === 'hammer' ? ` hog: ${JSON.stringify(hogStatuses)}` : ''));
} finally {
  await server.stop();
}
