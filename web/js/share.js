// A share link's console (/share#<token>): noVNC on /share/ws, the token handed over as a
// WebSocket subprotocol ("vmshare-share.<token>") so it never travels in a URL the server or a
// proxy logs. POST /share/info says first what the link allows, or why it no longer works
// (revoked, expired, the VM ended, sign-in needed); the same question after a drop decides
// between reconnecting and saying goodbye. View-only links are enforced by the server; the
// page also stops sending input so the visitor is not surprised.
import RFB from '/vendor/novnc/core/rfb.js';
import { ApiError, messageOf, post } from './api.js';
import { $, clock, secondsUntil } from './ui.js';

const token = window.location.hash.slice(1);
const wsUrl = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/share/ws`;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

// closeReason: the server's close-frame reason of the last console (noVNC does not pass it on,
// so the page opens the WebSocket itself and hands it to RFB).
const state = { rfb: null, info: null, connected: false, attempt: 0, retryTimer: null, gone: false, closeReason: '' };
const ENDED_BY_OWNER = /ended by the VM's owner/;

function setConn(text, tone) {
  const el = $('#conn-state');
  el.textContent = text;
  const tones = {
    ok: ['bg-emerald-950', 'text-emerald-300', 'ring-emerald-700'],
    warn: ['bg-amber-950', 'text-amber-300', 'ring-amber-700'],
    bad: ['bg-rose-950', 'text-rose-300', 'ring-rose-700'],
  };
  el.classList.remove(...Object.values(tones).flat(), 'bg-slate-800', 'text-slate-300', 'ring-slate-600');
  el.classList.add(...tones[tone]);
}

function overlay(title, text, { retry = false, signIn = false } = {}) {
  $('#overlay').hidden = !title;
  $('#overlay-title').textContent = title || '';
  $('#overlay-text').textContent = text || '';
  $('#overlay-retry').hidden = !retry;
  $('#overlay-signin').hidden = !signIn;
}

// The link's terms, or null once it no longer works (the page then says why, for good).
async function fetchInfo() {
  try {
    state.info = await post('/share/info', { token });
    return state.info;
  } catch (err) {
    if (err instanceof ApiError && [401, 404, 410].includes(err.status)) {
      end(err.status === 401 ? 'Sign-in required' : 'This link no longer works', messageOf(err), err.status === 401);
      return null;
    }
    return state.info;  // a transient error: try the console anyway
  }
}

function end(title, text, signIn = false) {
  state.gone = true;
  clearTimeout(state.retryTimer);
  state.rfb?.disconnect();
  setConn(title, 'bad');
  overlay(title, text, { signIn });
  $('#countdown').textContent = '';
}

function showMode(info) {
  const el = $('#share-mode');
  el.hidden = false;
  el.textContent = info.mode === 'view_only' ? 'View only' : 'Shared control';
}

function connect() {
  if (state.gone) return;
  setConn(state.attempt ? 'Reconnecting…' : 'Connecting…', 'warn');
  const ws = new WebSocket(wsUrl, ['binary', `vmshare-share.${token}`]);
  state.closeReason = '';
  ws.addEventListener('close', (e) => { state.closeReason = e.reason || ''; });
  const rfb = new RFB($('#screen'), ws);
  rfb.background = '#000';
  rfb.scaleViewport = $('#scale').value === 'fit';
  rfb.resizeSession = false;
  rfb.viewOnly = state.info?.mode === 'view_only';
  rfb.focusOnClick = !rfb.viewOnly;
  rfb.addEventListener('connect', () => {
    state.connected = true;
    state.attempt = 0;
    setConn('Connected', 'ok');
    overlay(null);
  });
  rfb.addEventListener('disconnect', () => onDisconnect(rfb));
  state.rfb = rfb;
}

async function onDisconnect(rfb) {
  if (state.rfb !== rfb) return;
  state.rfb = null;
  state.connected = false;
  if (state.gone) return;
  setConn('Disconnected', 'bad');
  // Revoked, expired, the VM gone: /share/info says which, and we stop.
  if (!(await fetchInfo()) || state.gone) return;
  // The owner ended this viewer: no automatic way back in, but the visitor may ask again.
  if (ENDED_BY_OWNER.test(state.closeReason)) {
    overlay('The owner disconnected you', 'The VM\'s owner ended your view of this console.', { retry: true });
    return;
  }
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)];
  state.attempt += 1;
  overlay('Disconnected from the shared console', `Reconnecting in ${Math.round(delay / 1000)} s…`, { retry: true });
  state.retryTimer = setTimeout(connect, delay);
}

function tick() {
  if (state.gone || !state.info) return;
  const left = secondsUntil(state.info.expires_at);
  $('#countdown').textContent = `Link expires in ${clock(left)}`;
}

function setupToolbar() {
  $('#scale').addEventListener('change', (e) => { if (state.rfb) state.rfb.scaleViewport = e.target.value === 'fit'; });
  const fullscreen = $('#fullscreen');
  fullscreen.hidden = !document.fullscreenEnabled;
  fullscreen.addEventListener('click', async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await document.documentElement.requestFullscreen();
    } catch { /* refused by the browser */ }
  });
  $('#overlay-retry').addEventListener('click', () => { clearTimeout(state.retryTimer); if (!state.rfb) connect(); });
}

async function main() {
  setupToolbar();
  if (!token) { end('No share link', 'This page opens a share link; the link you followed is incomplete.'); return; }
  const info = await fetchInfo();
  if (!info) { if (!state.gone) end('This link no longer works', 'The server could not be reached.'); return; }
  showMode(info);
  connect();
  tick();
  setInterval(tick, 1000);
}

main();
