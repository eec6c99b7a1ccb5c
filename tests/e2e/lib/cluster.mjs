// A cluster for e2e tests: vmshare nodes on 127.0.0.2, .3, .4 (each its own data folder, port and
// internal listener) sharing one PostgreSQL schema and one Redis database, with Debian's nginx
// round-robin in front (no stickiness), as docs/operations.md describes.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { fakeCatalog, startFakeVmServer } from './fake_qemu.mjs';
import { api, freePort, productionStorage, randomSuffix, sleep, startServer } from './server.mjs';

const run = promisify(execFile);
export const NGINX = process.env.VMSHARE_E2E_NGINX || '/usr/sbin/nginx';
export const CLUSTER_KEY = `cluster-key-${randomSuffix(16)}`;

// perNode: extra environment for node i (e.g. its VMSHARE_NODE_MEMORY_MB).
export async function startCluster({ hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'], env = {}, perNode = [], real = false } = {}) {
  const store = await productionStorage();
  const images = real ? undefined : await fakeCatalog();
  const secret = `secret-${randomSuffix(16)}`;
  const nodes = [];
  const cluster = {
    store,
    nodes,
    async startNode(i, extra = {}) {
      const host = hosts[i];
      const prev = nodes[i];
      const internalPort = prev?.internalPort ?? await freePort();
      const nodeEnv = {
        SECRET_KEY: secret,
        VMSHARE_NODE_ID: `node${i + 1}`,
        VMSHARE_INTERNAL_URL: `http://${host}:${internalPort}`,
        VMSHARE_CLUSTER_KEY: CLUSTER_KEY,
        VMSHARE_HEARTBEAT_S: '1',
        VMSHARE_NODE_DEAD_S: '4',
        ...(images ? { VMSHARE_IMAGES: images } : {}),
        ...env,
        ...(perNode[i] ?? {}),
        ...extra,
      };
      const opts = { host, sharedStore: store, env: nodeEnv, ...(prev ? { dataDir: prev.dataDir, port: prev.port } : {}) };
      if (prev) opts.env.PORT = String(prev.port);
      const server = real ? await startServer(opts) : await startFakeVmServer(opts);
      server.internalPort = internalPort;
      server.nodeId = nodeEnv.VMSHARE_NODE_ID;
      nodes[i] = server;
      return server;
    },
    async psql(sql) {
      const url = store.env.DATABASE_URL;
      const { stdout } = await run('psql', [url, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 10000 });
      return stdout.trim();
    },
    async stop() {
      if (cluster.nginx) await cluster.nginx.stop();
      for (const n of nodes) if (n) await n.stop({ keepData: true });
      for (const n of nodes) if (n) await n.stop();  // ends their VMs, removes their folders (lib/server.mjs)
      await store.cleanup();
    },
  };
  for (let i = 0; i < hosts.length; ++i) await cluster.startNode(i);
  return cluster;
}

// nginx on 127.0.0.1 spreading requests round-robin over the nodes (WebSockets included).
export async function startNginx(nodes) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-cluster-nginx-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const upstream = nodes.map((n) => `    server ${n.host}:${n.port};`).join('\n');
  writeFileSync(`${dir}/nginx.conf`, `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream vmshare {
${upstream}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://vmshare;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
      proxy_read_timeout 3600s;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`);
  const proc = spawn(NGINX, ['-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`], { stdio: 'ignore' });
  process.on('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const exited = new Promise((r) => proc.on('exit', r));
  const front = {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => (existsSync(`${dir}/access.log`) ? readFileSync(`${dir}/access.log`, 'utf8') : ''),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 100; ++i) {
    try {
      await api(front, 'GET', '/me', { timeoutMs: 1000 });
      return front;
    } catch { await sleep(100); }
  }
  throw new Error(`nginx did not start: ${existsSync(`${dir}/error.log`) ? readFileSync(`${dir}/error.log`, 'utf8') : ''}`);
}
