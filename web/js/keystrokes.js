// Text to key events for paste-as-keystrokes. Each character is sent with the physical key of a
// US layout (so QEMU's scancode path types it exactly, Shift included); characters with no
// such key fall back to their keysym alone.
import KeyTable from '/vendor/novnc/core/input/keysym.js';
import keysyms from '/vendor/novnc/core/input/keysymdef.js';

const SHIFTED_DIGITS = ')!@#$%^&*(';
const PUNCT = {  // unshifted, shifted, code
  '-': 'Minus', _: 'Minus', '=': 'Equal', '+': 'Equal', '[': 'BracketLeft', '{': 'BracketLeft',
  ']': 'BracketRight', '}': 'BracketRight', '\\': 'Backslash', '|': 'Backslash', ';': 'Semicolon',
  ':': 'Semicolon', "'": 'Quote', '"': 'Quote', ',': 'Comma', '<': 'Comma', '.': 'Period', '>': 'Period',
  '/': 'Slash', '?': 'Slash', '`': 'Backquote', '~': 'Backquote',
};
const SHIFTED_PUNCT = new Set('_+{}|:"<>?~');

// {keysym, code, shift} for one character.
export function keyFor(ch) {
  if (ch === '\n') return { keysym: KeyTable.XK_Return, code: 'Enter', shift: false };
  if (ch === '\t') return { keysym: KeyTable.XK_Tab, code: 'Tab', shift: false };
  if (ch === ' ') return { keysym: KeyTable.XK_space, code: 'Space', shift: false };
  const keysym = keysyms.lookup(ch.codePointAt(0));
  if (/^[a-z]$/.test(ch)) return { keysym, code: `Key${ch.toUpperCase()}`, shift: false };
  if (/^[A-Z]$/.test(ch)) return { keysym, code: `Key${ch}`, shift: true };
  if (/^[0-9]$/.test(ch)) return { keysym, code: `Digit${ch}`, shift: false };
  const d = SHIFTED_DIGITS.indexOf(ch);
  if (d >= 0) return { keysym, code: `Digit${d}`, shift: true };
  if (PUNCT[ch]) return { keysym, code: PUNCT[ch], shift: SHIFTED_PUNCT.has(ch) };
  return { keysym, code: null, shift: false };
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

// Types `text` through `rfb`, a little paced so the guest's keyboard buffer keeps up.
export async function typeText(rfb, text) {
  const chars = Array.from(text.replace(/\r\n?/g, '\n'));
  for (const [i, ch] of chars.entries()) {
    const k = keyFor(ch);
    if (k.shift) rfb.sendKey(KeyTable.XK_Shift_L, 'ShiftLeft', true);
    rfb.sendKey(k.keysym, k.code, true);
    rfb.sendKey(k.keysym, k.code, false);
    if (k.shift) rfb.sendKey(KeyTable.XK_Shift_L, 'ShiftLeft', false);
    if (i % 8 === 7) await pause(15);
  }
}

// The key combinations of the toolbar's menu: [keysym, code] pressed in order, released reversed.
const K = KeyTable;
export const COMBOS = {
  'ctrl-alt-f1': [[K.XK_Control_L, 'ControlLeft'], [K.XK_Alt_L, 'AltLeft'], [K.XK_F1, 'F1']],
  'ctrl-alt-f2': [[K.XK_Control_L, 'ControlLeft'], [K.XK_Alt_L, 'AltLeft'], [K.XK_F2, 'F2']],
  'ctrl-alt-f7': [[K.XK_Control_L, 'ControlLeft'], [K.XK_Alt_L, 'AltLeft'], [K.XK_F7, 'F7']],
  'ctrl-alt-backspace': [[K.XK_Control_L, 'ControlLeft'], [K.XK_Alt_L, 'AltLeft'], [K.XK_BackSpace, 'Backspace']],
  'alt-tab': [[K.XK_Alt_L, 'AltLeft'], [K.XK_Tab, 'Tab']],
  'alt-f4': [[K.XK_Alt_L, 'AltLeft'], [K.XK_F4, 'F4']],
  'ctrl-c': [[K.XK_Control_L, 'ControlLeft'], [0x63, 'KeyC']],
  'ctrl-d': [[K.XK_Control_L, 'ControlLeft'], [0x64, 'KeyD']],
  super: [[K.XK_Super_L, 'MetaLeft']],
  escape: [[K.XK_Escape, 'Escape']],
  print: [[K.XK_Print, 'PrintScreen']],
};

export function sendCombo(rfb, name) {
  if (name === 'ctrl-alt-del') { rfb.sendCtrlAltDel(); return; }
  const keys = COMBOS[name];
  if (!keys) return;
  for (const [sym, code] of keys) rfb.sendKey(sym, code, true);
  for (const [sym, code] of [...keys].reverse()) rfb.sendKey(sym, code, false);
}
