// Small DOM and formatting helpers shared by the pages.

export const $ = (sel, root = document) => root.querySelector(sel);

// Shows `text` in an alert element (hidden when empty); kind: error, info or ok.
export function showMessage(el, text, kind = 'error') {
  if (!el) return;
  el.textContent = text || '';
  el.hidden = !text;
  el.classList.remove('alert-error', 'alert-info', 'alert-ok');
  el.classList.add(`alert-${kind}`);
}

// Element builder: h('button', {class: 'btn', onclick}, 'Start'). Text only, never HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

// Disables a button while `work` runs, so a double click never sends twice.
export async function busy(button, work) {
  button.disabled = true;
  try { return await work(); } finally { button.disabled = false; }
}

// A "Delete" button that asks for a second click ("Confirm delete", disarmed after 4 s) instead of
// a confirm() dialog: keyboard friendly and never blocks the page. onConfirm runs under busy().
export function confirmDeleteButton(ariaLabel, onConfirm) {
  const btn = h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': ariaLabel }, 'Delete');
  let armed = null;
  const disarm = () => { armed = null; btn.textContent = 'Delete'; btn.classList.remove('btn-danger'); };
  btn.addEventListener('click', () => {
    if (!armed) {
      btn.textContent = 'Confirm delete';
      btn.classList.add('btn-danger');
      armed = setTimeout(disarm, 4000);
      return;
    }
    clearTimeout(armed);
    busy(btn, onConfirm);
  });
  return btn;
}

// 3725 -> "1:02:05", 65 -> "1:05".
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

// 3725 -> "1 h 2 min", 42 -> "42 s".
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const secondsUntil = (iso) => (Date.parse(iso) - Date.now()) / 1000;
export const secondsSince = (iso) => (Date.now() - Date.parse(iso)) / 1000;

export function formatMb(mb) {
  if (mb === null || mb === undefined || Number.isNaN(Number(mb))) return '–';
  const n = Number(mb);
  if (n === 0) return '0 MB';
  return n >= 1024 ? `${(n / 1024).toFixed(1)} GB` : `${n < 10 ? n.toFixed(1) : Math.round(n)} MB`;
}

export function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return formatMb(bytes / (1024 * 1024));
}
