// Recordings on the dashboard: turn the running VM's recording on or off (POST /vm/recording),
// list recordings (GET /recordings) with replay, download and delete (DELETE /recordings/<id>).
// Standalone: it polls /vm/recording itself, so the dashboard's other modules need no change.
import { ApiError, api, get, goToSignIn, post } from './api.js';
import { $, busy, confirmDeleteButton, formatMb, h, showMessage } from './ui.js';

const POLL_MS = 5000;

function fmtDuration(ms) {
  const s = Math.round(Number(ms || 0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function setup() {
  const toggle = $('#rec-toggle');
  const message = $('#rec-message');
  const list = $('#rec-list');
  let status = null;  // /vm/recording of the running VM, or null without one

  function fail(err) {
    if (err instanceof ApiError && err.status === 401) { goToSignIn(); return; }
    showMessage(message, err.message || String(err));
  }

  function renderToggle() {
    toggle.disabled = !status;
    toggle.textContent = status?.recording ? 'Stop recording' : 'Record';
    toggle.classList.toggle('btn-danger', !!status?.recording);
    toggle.setAttribute('aria-pressed', String(!!status?.recording));
    $('#rec-live').hidden = !status?.recording;
  }

  function deleteButton(rec) {
    return confirmDeleteButton(`Delete recording ${rec.id}`, async () => {
      try {
        await api('DELETE', `/recordings/${encodeURIComponent(rec.id)}`);
        showMessage(message, 'Recording deleted.', 'ok');
        await refresh();
      } catch (err) {
        fail(err);
      }
    });
  }

  function item(rec) {
    const when = rec.created ? new Date(rec.created).toLocaleString() : '';
    const ready = rec.state === 'ready';
    const actions = ready
      ? [h('a', { class: 'btn btn-sm btn-primary', href: `/replay/${encodeURIComponent(rec.id)}` }, 'Replay'),
        h('a', { class: 'btn btn-sm', href: `/recordings/${encodeURIComponent(rec.id)}/download`, download: `${rec.id}.vmsrec` }, 'Download'),
        deleteButton(rec)]
      : [h('span', { class: 'badge bg-rose-950 text-rose-300 ring-rose-700' }, 'recording…')];
    return h('li', { class: 'recording py-3', 'data-id': rec.id },
      h('div', { class: 'flex flex-wrap items-baseline gap-x-2' },
        h('span', { class: 'font-medium' }, rec.os_type || 'recording'),
        h('span', { class: 'text-xs text-slate-400' }, `${fmtDuration(rec.duration_ms)} · ${formatMb(rec.size_mb)}${when ? ` · ${when}` : ''}`)),
      h('div', { class: 'mt-2 flex flex-wrap gap-2' }, ...actions));
  }

  async function refresh() {
    try {
      const s = await get('/vm/recording');
      status = s.vmid ? s : null;  // {recording: false, vmid: null} without a running VM
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) status = null;
      else return fail(err);
    }
    renderToggle();
    try {
      const items = await get('/recordings');
      list.replaceChildren(...items.map(item));
      $('#rec-empty').hidden = items.length > 0;
    } catch (err) {
      fail(err);
    }
  }

  toggle.addEventListener('click', () => busy(toggle, async () => {
    try {
      status = await post('/vm/recording', { on: !status?.recording });
      showMessage(message, status.recording ? 'Recording the console.' : 'Recording saved.', 'ok');
    } catch (err) {
      fail(err);
    }
    await refresh();
  }));

  refresh();
  setInterval(refresh, POLL_MS);
}

setup();
