// Forges JWTs the way an attacker (or a clock in the past) would, for the token tests.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const b64url = (obj) => Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)).toString('base64url');

// The server's generated secret (used as raw bytes, like the server does).
export const readSecret = (server) => readFileSync(path.join(server.dataDir, 'secret_key'), 'utf8').trim();

export function decodePayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

// alg: HS256 | HS512 | none
export function signToken(payload, secret, alg = 'HS256') {
  const head = `${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}`;
  if (alg === 'none') return `${head}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  return `${head}.${createHmac(hash, secret).update(head).digest('base64url')}`;
}

// The token's signature kept, its payload replaced: what a tampering client sends.
export function tamperPayload(token, changes) {
  const [h, , s] = token.split('.');
  return `${h}.${b64url({ ...decodePayload(token), ...changes })}.${s}`;
}
