// The console page (/console/<vmid>): noVNC's RFB on the same-origin WebSocket /ws/<vmid> (the
// cookie authenticates it), filling the window. Reconnects with backoff after a drop, and shows
// how long until the session ends or, while disconnected, until the disconnect grace runs out
// and the server stops the VM.
import RFB from '/vendor/novnc/core/rfb.js';
import { ApiError, get, goToSignIn } from './api.js';
import { setupToolbar } from './console_toolbar.js';
import { $, clock, secondsUntil } from './ui.js';

const vmid = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
const wsUrl = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws/${encodeURIComponent(vmid)}`;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

const state = {
  rfb: null,
  status: null,          // the last /vm/status body
  connected: false,
  disconnectedAt: null,  // when the last connection dropped (ms), for the grace countdown
  attempt: 0,
  retryTimer: null,
  retryAt: null,
  gone: false,           // the VM no longer exists: stop reconnecting
  settings: { scale: 'fit', viewOnly: false },
};

function setConn(text, tone) {
  const el = $('#conn-state');
  el.textContent = text;
  const tones = {
    ok: ['bg-emerald-950', 'text-emerald-300', 'ring-emerald-700'],
    warn: ['bg-amber-950', 'text-amber-300', 'ring-amber-700'],
    bad: ['bg-rose-950', 'text-rose-300', 'ring-rose-700'],
    idle: ['bg-slate-800', 'text-slate-300', 'ring-slate-600'],
  };
  el.classList.remove(...Object.values(tones).flat());
  el.classList.add(...tones[tone]);
}

function overlay(title, text, { retry = false } = {}) {
  $('#overlay').hidden = !title;
  $('#overlay-title').textContent = title || '';
  $('#overlay-text').textContent = text || '';
  $('#overlay-retry').hidden = !retry;
}

// /vm/status, or null when this VM is gone (stopped, expired, or another VM now).
async function fetchStatus() {
  try {
    const s = await get('/vm/status');
    state.status = s.vmid === vmid ? s : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { goToSignIn(); return undefined; }
    if (err instanceof ApiError && err.status === 404) state.status = null;
    else return state.status;  // a transient error: keep what we know
  }
  if (!state.status) vmGone();
  return state.status;
}

function vmGone() {
  state.gone = true;
  clearTimeout(state.retryTimer);
  setConn('VM stopped', 'bad');
  overlay('This VM is no longer running', 'It was stopped, reached its time limit, or had no viewer for too long. Start a new one from the dashboard.');
  $('#countdown').textContent = '';
}

function connect() {
  if (state.gone) return;
  clearTimeout(state.retryTimer);
  state.retryAt = null;
  setConn(state.attempt ? 'Reconnecting…' : 'Connecting…', 'warn');
  const rfb = new RFB($('#screen'), wsUrl, { wsProtocols: ['binary'] });
  rfb.background = '#000';
  rfb.focusOnClick = true;
  rfb.resizeSession = false;
  rfb.scaleViewport = state.settings.scale === 'fit';
  rfb.clipViewport = false;
  rfb.viewOnly = state.settings.viewOnly;
  rfb.addEventListener('connect', () => {
    state.connected = true;
    state.attempt = 0;
    state.disconnectedAt = null;
    setConn('Connected', 'ok');
    overlay(null);
    rfb.focus();
  });
  rfb.addEventListener('disconnect', () => onDisconnect(rfb));
  rfb.addEventListener('securityfailure', (e) => {
    overlay('The console refused the connection', e.detail?.reason || 'Security negotiation failed.');
  });
  rfb.addEventListener('desktopname', (e) => { document.title = `${e.detail.name || vmid} · vmshare`; });
  state.rfb = rfb;
}

async function onDisconnect(rfb) {
  if (state.rfb !== rfb) return;
  state.connected = false;
  state.rfb = null;
  state.disconnectedAt ??= Date.now();
  if (state.gone) return;
  setConn('Disconnected', 'bad');
  tick();
  const status = await fetchStatus();
  if (status === undefined || state.gone) return;
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)];
  state.attempt += 1;
  state.retryAt = Date.now() + delay;
  state.retryTimer = setTimeout(connect, delay);
  tick();
}

// Once a second: the countdowns.
function tick() {
  const s = state.status;
  if (state.gone || !s) return;
  const parts = [];
  if (s.expires_at) parts.push(`Session ends in ${clock(secondsUntil(s.expires_at))}`);
  $('#countdown').textContent = parts.join(' · ');
  if (!state.connected && state.disconnectedAt) {
    const graceLeft = (s.grace_s ?? 0) - (Date.now() - state.disconnectedAt) / 1000;
    const retryIn = state.retryAt ? Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000)) : 0;
    const graceText = s.grace_s ? `Without a viewer the VM stops in ${clock(graceLeft)}. ` : '';
    overlay('Disconnected from the VM', `${graceText}${state.retryAt ? `Reconnecting in ${retryIn} s…` : 'Reconnecting…'}`, { retry: true });
  }
}

$('#overlay-retry').addEventListener('click', () => { if (!state.rfb) connect(); });

async function main() {
  if (!vmid) { vmGone(); return; }
  setupToolbar({ state, vmid });
  const status = await fetchStatus();
  if (!status) return;
  connect();
  tick();
  setInterval(tick, 1000);
  // The session's end can move (an admin, a restart); re-read it now and then.
  setInterval(() => { if (!state.gone) fetchStatus(); }, 30000);
}

main();
