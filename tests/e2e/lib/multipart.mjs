// A multipart/form-data body with one file field, as a browser's form would send it.
import { randomSuffix } from './server.mjs';

export function multipart(field, filename, data) {
  const boundary = `----vmshare${randomSuffix(8)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n`
      + 'Content-Type: application/octet-stream\r\n\r\n'),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } };
}
