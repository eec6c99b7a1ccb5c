// Reads the guest's screen with Debian's tesseract (tesseract-ocr + tesseract-ocr-eng).
// The console is light-grey VGA text on black; tesseract does best on dark text on white at a
// larger size, so the PNG is inverted to grey levels and upscaled before OCR.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { decodePng, encodePng } from './png.mjs';
import { sleep } from './server.mjs';

const run = promisify(execFile);
const SCALE = 2;
const PAD = 20;  // text touching the image edge (the prompt starts at x=0) is often missed

// Binarise (glyph pixels -> black on white), then upscale bilinearly: the smoothed edges read
// better than blocky nearest-neighbour pixels (VGA's '/' and 'm' especially). Measured on the
// tiny guest's screen: this reads `tiny:/mnt/disk#` where plain 2x/3x/4x scaling did not.
// `isInk(r, g, b)` says which pixels are glyphs (default: bright ones, the VGA console's grey
// on black); a guest with dark text on a bright screen (Debian's installer) passes its own.
const brightInk = (r, g, b) => 0.299 * r + 0.587 * g + 0.114 * b > 60;
function prepare({ width, height, rgba }, isInk = brightInk) {
  const ink = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) ink[i] = isInk(rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]) ? 0 : 255;
  const at = (x, y) => ink[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  const w = width * SCALE + 2 * PAD, h = height * SCALE + 2 * PAD;
  const out = Buffer.alloc(w * h * 4, 255);
  for (let y = 0; y < height * SCALE; y++) {
    for (let x = 0; x < width * SCALE; x++) {
      const fx = (x + 0.5) / SCALE - 0.5, fy = (y + 0.5) / SCALE - 0.5;
      const x0 = Math.floor(fx), y0 = Math.floor(fy), ax = fx - x0, ay = fy - y0;
      const v = at(x0, y0) * (1 - ax) * (1 - ay) + at(x0 + 1, y0) * ax * (1 - ay)
        + at(x0, y0 + 1) * (1 - ax) * ay + at(x0 + 1, y0 + 1) * ax * ay;
      const o = ((y + PAD) * w + x + PAD) * 4;
      out[o] = out[o + 1] = out[o + 2] = v;
    }
  }
  return encodePng(w, h, out);
}

// OCR still confuses a few VGA glyphs ('/' with 'e' or '"', "mnt" with "mnit", a blinking cursor
// read as 't'), so patterns for the prompt allow for that.
export const PROMPT = /tiny:\s*\S?m\w{0,2}t\S?disk/;

// The text tesseract sees on a screen PNG.
export async function screenText(png, { ink } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmshare-ocr-'));
  try {
    const file = path.join(dir, 'screen.png');
    writeFileSync(file, prepare(decodePng(png), ink));
    // psm 6: one uniform block of text, which a text console is.
    const { stdout } = await run('tesseract', [file, 'stdout', '--psm', '6'], { timeout: 60000 });
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Polls fetchPng() (async, resolves a PNG Buffer) until the OCR text matches `pattern`.
// Resolves {text, png, match}; rejects with the last text seen after timeoutMs.
export async function waitForScreenText(fetchPng, pattern, timeoutMs, { intervalMs = 2000, ink } = {}) {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  let png;
  for (;;) {
    try {
      png = await fetchPng();
      text = await screenText(png, { ink });
      const match = text.match(pattern);
      if (match) return { text, png, match };
    } catch (e) {
      text = `(${e.message})`;
    }
    if (Date.now() > deadline) {
      const err = new Error(`screen never showed ${pattern} within ${timeoutMs} ms; last OCR:\n${text}`);
      err.png = png;
      throw err;
    }
    await sleep(intervalMs);
  }
}
