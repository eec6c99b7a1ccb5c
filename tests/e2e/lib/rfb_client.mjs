// A minimal RFB 3.8 client over vmshare's console WebSocket (/ws/<vmid>, subprotocol 'binary'),
// enough to prove the bridge end to end: handshake with security None, 32 bpp true colour, Raw
// rectangles (plus the DesktopSize pseudo-encoding, since the guest switches video modes while
// booting), key events, and the framebuffer as RGBA for screenshots and OCR.
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';

import WebSocket from 'ws';

import { encodePng } from './png.mjs';

const ENC_RAW = 0;
const ENC_COPY_RECT = 1;
const ENC_HEXTILE = 5;
const ENC_DESKTOP_SIZE = -223;
export const KEY = { Enter: 0xff0d, Tab: 0xff09, BackSpace: 0xff08, Escape: 0xff1b, Shift: 0xffe1 };
// Characters typed with Shift held on a US keyboard: sent as Shift down, keysym, Shift up, as a
// real keyboard (and noVNC) would. QEMU's VNC server maps keysyms to scancodes with its en-us
// keymap and picks the shifted scancode when Shift is down.
const SHIFTED = new Set('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ');

// Starts the WebSocket; `opened` resolves once it is open, or rejects with err.status set when
// the server refused the upgrade with an HTTP response (401/403/404...).
// opts: {cookie, token, origin, timeoutMs, protocols (default ['binary'])}
function dial(url, { cookie, token, origin, timeoutMs = 15000, protocols = ['binary'] } = {}) {
  const headers = {};
  if (cookie) headers.Cookie = cookie;
  if (token) headers.Authorization = `Bearer ${token}`;
  const ws = new WebSocket(url, protocols, { headers, origin, perMessageDeflate: false, handshakeTimeout: timeoutMs });
  ws.binaryType = 'nodebuffer';
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const err = new Error(`upgrade refused: ${res.statusCode} ${body}`);
        err.status = res.statusCode;
        err.body = body;
        reject(err);
      });
      req.destroy();
    });
    ws.once('error', reject);
  });
  return { ws, opened };
}

// Resolves the open WebSocket (for tests of the upgrade itself).
export async function openConsoleSocket(url, opts) {
  const { ws, opened } = dial(url, opts);
  await opened;
  return ws;
}

export class RfbClient extends EventEmitter {
  // Connects and completes the RFB handshake; starts asking for incremental updates.
  static async connect(url, opts = {}) {
    const { ws, opened } = dial(url, opts);
    // Listen before 'open': QEMU's greeting can arrive in the same TCP read as the 101 response,
    // and ws emits it right after 'open', before an awaiting caller could attach a listener.
    const client = new RfbClient(ws);
    await opened;
    try {
      client.#novnc = !!opts.novncPixelFormat;
      await client.#handshake(opts.timeoutMs ?? 30000);
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  #ws;
  #chunks = [];
  #buffered = 0;
  #waiter = null;
  #closed = false;
  // opts.novncPixelFormat: ask for (and decode) noVNC's own pixel format, R at shift 0, B at 16,
  // as recordings are made in (a replay sends them as they are); otherwise R16 G8 B0.
  #novnc = false;

  constructor(ws) {
    super();
    this.#ws = ws;
    this.width = 0;
    this.height = 0;
    this.name = '';
    this.fb = Buffer.alloc(0);  // RGBA, width*height*4
    this.updates = 0;           // FramebufferUpdate messages received
    this.bytesIn = 0;
    this.closeInfo = null;      // {code, reason} once the socket closed
    ws.on('message', (data) => {
      this.bytesIn += data.length;
      this.#chunks.push(data);
      this.#buffered += data.length;
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.#closed = true;
      this.closeInfo = { code, reason: reason.toString() };
      this.#wake();
      this.emit('close', this.closeInfo);
    });
    ws.on('error', (e) => this.emit('socket-error', e));
  }

  get closed() { return this.#closed; }

  #wake() {
    const w = this.#waiter;
    if (w && (this.#buffered >= w.n || this.#closed)) { this.#waiter = null; w.resolve(); }
  }

  // Exactly n bytes from the stream (RFB messages span WebSocket frames freely).
  async #read(n) {
    while (this.#buffered < n) {
      if (this.#closed) throw new Error(`console closed (${JSON.stringify(this.closeInfo)}) while reading ${n} bytes`);
      await new Promise((resolve) => { this.#waiter = { n, resolve }; });
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length ? [rest] : [];
    this.#buffered = rest.length;
    return out;
  }

  #send(buf) { if (!this.#closed) this.#ws.send(buf); }
  // Bytes as they are, e.g. a malformed message (tests of the bridge's parser).
  sendRaw(buf) { this.#send(buf); }

  async #handshake(timeoutMs) {
    let timer;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('RFB handshake timed out')), timeoutMs); });
    try {
      await Promise.race([this.#negotiate(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.#loop().catch((e) => { if (!this.#closed) this.emit('protocol-error', e); });
    this.requestUpdate(false);
  }

  async #negotiate() {
    const version = (await this.#read(12)).toString('latin1');
    if (!/^RFB 003\.00[3-8]\n$/.test(version)) throw new Error(`not an RFB server: ${JSON.stringify(version)}`);
    this.serverVersion = version.trim();
    this.#send(Buffer.from('RFB 003.008\n', 'latin1'));
    const count = (await this.#read(1))[0];
    if (count === 0) throw new Error(`server refused: ${await this.#reason()}`);
    this.securityTypes = [...(await this.#read(count))];
    if (!this.securityTypes.includes(1)) throw new Error(`no None security type: ${this.securityTypes}`);
    this.#send(Buffer.from([1]));
    const result = (await this.#read(4)).readUInt32BE(0);
    if (result !== 0) throw new Error(`security failed: ${await this.#reason()}`);
    this.#send(Buffer.from([1]));  // ClientInit: shared, so other viewers stay connected
    const init = await this.#read(24);
    this.#resize(init.readUInt16BE(0), init.readUInt16BE(2));
    this.name = (await this.#read(init.readUInt32BE(20))).toString('utf8');
    // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 8 bits each at R16 G8 B0.
    const pf = Buffer.alloc(20);
    pf[0] = 0;
    pf.set([32, 24, 0, 1], 4);
    pf.writeUInt16BE(255, 8); pf.writeUInt16BE(255, 10); pf.writeUInt16BE(255, 12);
    pf.set(this.#novnc ? [0, 8, 16] : [16, 8, 0], 14);
    this.#send(pf);
    const encodings = [ENC_RAW, ENC_DESKTOP_SIZE];
    const se = Buffer.alloc(4 + 4 * encodings.length);
    se[0] = 2;
    se.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => se.writeInt32BE(e, 4 + 4 * i));
    this.#send(se);
  }

  async #reason() {
    const len = (await this.#read(4)).readUInt32BE(0);
    return (await this.#read(len)).toString('utf8');
  }

  #resize(width, height) {
    this.width = width;
    this.height = height;
    this.fb = Buffer.alloc(width * height * 4);
    for (let i = 3; i < this.fb.length; i += 4) this.fb[i] = 255;
  }

  async #loop() {
    for (;;) {
      const type = (await this.#read(1))[0];
      if (type === 0) await this.#framebufferUpdate();
      else if (type === 1) {  // SetColourMapEntries: not used in true colour, skip it
        const h = await this.#read(5);
        await this.#read(6 * h.readUInt16BE(3));
      } else if (type === 2) this.emit('bell');
      else if (type === 3) {  // ServerCutText
        const h = await this.#read(7);
        this.emit('cut-text', (await this.#read(h.readUInt32BE(3))).toString('latin1'));
      } else throw new Error(`unexpected server message type ${type}`);
    }
  }

  async #framebufferUpdate() {
    const n = (await this.#read(3)).readUInt16BE(1);
    const rects = [];
    for (let i = 0; i < n; i++) {
      const h = await this.#read(12);
      const x = h.readUInt16BE(0), y = h.readUInt16BE(2), w = h.readUInt16BE(4), hh = h.readUInt16BE(6);
      const enc = h.readInt32BE(8);
      if (enc === ENC_DESKTOP_SIZE) { this.#resize(w, hh); rects.push({ x, y, w, h: hh, enc }); continue; }
      if (enc === ENC_HEXTILE) await this.#hextile(x, y, w, hh);
      else if (enc === ENC_COPY_RECT) {
        const src = await this.#read(4);
        this.#copyRect(src.readUInt16BE(0), src.readUInt16BE(2), x, y, w, hh);
      } else if (enc === ENC_RAW) this.#paint(x, y, w, hh, await this.#read(w * hh * 4));
      else throw new Error(`server used encoding ${enc}, which was not requested`);
      rects.push({ x, y, w, h: hh, enc });
    }
    this.updates++;
    this.emit('update', rects);
    this.requestUpdate(true);  // keep the picture current, as noVNC does
  }

  // Pixels (4 bytes each, the negotiated format) into the RGBA framebuffer.
  #paint(x, y, w, hh, px) {
    const [r, b] = this.#novnc ? [0, 2] : [2, 0];
    for (let row = 0; row < hh; row++) {
      if (y + row >= this.height) break;
      for (let col = 0; col < w && x + col < this.width; col++) {
        const s = (row * w + col) * 4, d = ((y + row) * this.width + x + col) * 4;
        this.fb[d] = px[s + r]; this.fb[d + 1] = px[s + 1]; this.fb[d + 2] = px[s + b];
      }
    }
  }

  #copyRect(sx, sy, x, y, w, hh) {
    const copy = Buffer.from(this.fb);
    for (let row = 0; row < hh; row++) {
      const s = ((sy + row) * this.width + sx) * 4, d = ((y + row) * this.width + x) * 4;
      copy.copy(this.fb, d, s, s + w * 4);
    }
  }

  // Hextile (RFC 6143 7.7.4): 16x16 tiles with a background, a foreground and subrectangles.
  async #hextile(x, y, w, hh) {
    let bg = Buffer.alloc(4), fg = Buffer.alloc(4);
    for (let ty = 0; ty < hh; ty += 16) {
      const th = Math.min(16, hh - ty);
      for (let tx = 0; tx < w; tx += 16) {
        const tw = Math.min(16, w - tx);
        const sub = (await this.#read(1))[0];
        if (sub & 1) { this.#paint(x + tx, y + ty, tw, th, await this.#read(tw * th * 4)); continue; }
        if (sub & 2) bg = Buffer.from(await this.#read(4));
        if (sub & 4) fg = Buffer.from(await this.#read(4));
        this.#paint(x + tx, y + ty, tw, th, Buffer.concat(Array(tw * th).fill(bg)));
        if (!(sub & 8)) continue;
        const n = (await this.#read(1))[0];
        for (let i = 0; i < n; i++) {
          const colour = sub & 16 ? Buffer.from(await this.#read(4)) : fg;
          const r = await this.#read(2);
          const sx = r[0] >> 4, sy = r[0] & 15, sw = (r[1] >> 4) + 1, sh = (r[1] & 15) + 1;
          this.#paint(x + tx + sx, y + ty + sy, sw, sh, Buffer.concat(Array(sw * sh).fill(colour)));
        }
      }
    }
  }

  requestUpdate(incremental = true) {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(this.width, 6);
    b.writeUInt16BE(this.height, 8);
    this.#send(b);
  }

  // Resolves with the next FramebufferUpdate's rectangles for which pred(rects) holds.
  waitForUpdate(timeoutMs = 30000, pred = () => true) {
    return new Promise((resolve, reject) => {
      const done = (err, value) => { clearTimeout(timer); this.off('update', onUpdate); this.off('close', onClose); err ? reject(err) : resolve(value); };
      const onUpdate = (rects) => { if (pred(rects)) done(null, rects); };
      const onClose = (info) => done(new Error(`console closed: ${JSON.stringify(info)}`));
      const timer = setTimeout(() => done(new Error(`no framebuffer update within ${timeoutMs} ms`)), timeoutMs);
      this.on('update', onUpdate);
      this.on('close', onClose);
    });
  }

  // Pixels that are not black: a blank console has none.
  nonBlackPixels() {
    let n = 0;
    for (let i = 0; i < this.fb.length; i += 4) if (this.fb[i] | this.fb[i + 1] | this.fb[i + 2]) n++;
    return n;
  }

  key(keysym, down) {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down ? 1 : 0;
    b.writeUInt32BE(keysym >>> 0, 4);
    this.#send(b);
  }

  async press(keysym, { delayMs = 20 } = {}) {
    this.key(keysym, true);
    await new Promise((r) => setTimeout(r, delayMs));
    this.key(keysym, false);
    await new Promise((r) => setTimeout(r, delayMs));
  }

  // Types printable ASCII; '\n' is Enter. Latin-1 keysyms equal the character codes.
  async typeText(text, opts) {
    for (const ch of text) {
      if (ch === '\n') { await this.press(KEY.Enter, opts); continue; }
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) throw new Error(`typeText: cannot type ${JSON.stringify(ch)}`);
      const shift = SHIFTED.has(ch);
      if (shift) this.key(KEY.Shift, true);
      await this.press(code, opts);
      if (shift) this.key(KEY.Shift, false);
    }
  }

  toPng() { return encodePng(this.width, this.height, this.fb); }
  savePng(file) { writeFileSync(file, this.toPng()); }

  close() {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(1000);
  }

  // Resolves once the socket is fully closed.
  whenClosed() {
    return this.#closed ? Promise.resolve(this.closeInfo) : new Promise((r) => this.once('close', r));
  }
}
