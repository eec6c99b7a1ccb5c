// The console toolbar's figures: this browser's own console, as the server's bridge measures it
// (GET /vm/console_stats: frames/s and input-to-update latency, the median of the last samples).
// Self-contained: loaded by console.html, it adds one status element next to the countdown and
// polls every 2 s while the page is visible. Nothing shows until a viewer of this user is open.
import { get } from './api.js';

const POLL_MS = 2000;

// "12 fps · 35 ms" (latency only once a key or pointer event has been answered).
export function describe(viewer) {
  if (!viewer) return '';
  const parts = [`${Math.round(viewer.fps)} fps`];
  const latency = viewer.latency_p50_ms >= 0 ? viewer.latency_p50_ms : viewer.latency_ms;
  if (latency >= 0) parts.push(`${Math.round(latency)} ms`);
  if (viewer.mode === 'view_only') parts.push('view only');
  return parts.join(' · ');
}

// This browser's viewer: the caller's newest (tabs opened later have higher ids).
export function ownViewer(viewers) {
  return viewers.filter((v) => v.mine).sort((a, b) => b.id - a.id)[0] ?? null;
}

function setup() {
  const vmid = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
  const anchor = document.getElementById('countdown');
  if (!anchor || !vmid) return;
  const out = document.createElement('span');
  out.id = 'console-figures';
  out.className = 'text-xs text-slate-300 tabular-nums';
  out.setAttribute('aria-live', 'off');
  out.title = 'Frames per second to this console, and the time from a key or pointer event to the next screen update (median)';
  anchor.after(out);
  let busy = false, stopped = false;
  async function poll() {
    if (busy || stopped || document.hidden) return;
    busy = true;
    try {
      const stats = await get(`/vm/console_stats?vmid=${encodeURIComponent(vmid)}`);
      out.textContent = describe(ownViewer(stats.viewers || []));
    } catch (e) {
      out.textContent = '';
      // No VM any more, signed out or not allowed: the page's own status says so; asking again
      // would only fill the browser's console with failed requests.
      if ([401, 403, 404].includes(e.status)) stopped = true;
    } finally {
      busy = false;
    }
  }
  setInterval(poll, POLL_MS);
  poll();
}

if (typeof document !== 'undefined') setup();
