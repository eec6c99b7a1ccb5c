// The console page's viewer list (issue 15): who is watching this VM (you, or a share link's
// visitor), from where and since when, with a button to end any of them. Refreshed every few
// seconds while open (never in the background: a page whose VM has gone would log 404s).
import { get, messageOf, post } from './api.js';
import { $, busy, duration, h, secondsSince, showMessage } from './ui.js';

const REFRESH_MS = 5000;

function buildDialog() {
  const dialog = h('dialog', { id: 'viewers-dialog', 'aria-labelledby': 'viewers-title',
    class: 'm-auto w-[min(40rem,calc(100vw-2rem))] rounded-xl border border-slate-700 bg-slate-900 p-0 text-slate-100 backdrop:bg-black/60' },
  h('div', { class: 'space-y-3 p-4' },
    h('h2', { id: 'viewers-title', class: 'text-lg font-semibold' }, 'Who is watching'),
    h('p', { id: 'viewers-message', class: 'alert alert-error', role: 'alert', hidden: true }),
    h('p', { id: 'viewers-none', class: 'muted', hidden: true }, 'Nobody is connected.'),
    h('ul', { id: 'viewers-items', class: 'space-y-2' }),
    h('div', { class: 'flex justify-end' },
      h('button', { id: 'viewers-close', type: 'button', class: 'btn btn-sm' }, 'Close'))));
  document.body.append(dialog);
  return dialog;
}

function who(v) {
  const via = v.via === 'owner' ? 'Owner console' : `Share link #${v.via}`;
  return v.login ? `${via} (${v.login})` : via;
}

function viewerRow(v, onEnd) {
  const mode = v.mode === 'view_only' ? 'view only' : 'control';
  return h('li', { class: 'flex flex-wrap items-center gap-2 rounded-lg border border-slate-800 px-3 py-2 text-sm', 'data-viewer-id': v.id },
    h('span', { class: 'min-w-0 flex-1' },
      h('span', { class: 'font-medium' }, who(v)),
      h('span', { class: 'block text-xs text-slate-400' }, `${mode} · ${v.address || 'unknown address'} · for ${duration(secondsSince(v.since))}`)),
    h('button', { type: 'button', class: 'btn btn-sm btn-danger', onclick: (e) => onEnd(v, e.currentTarget) }, 'End'));
}

export function setupViewerList() {
  const button = $('#viewers');
  if (!button) return;
  const dialog = buildDialog();
  const message = $('#viewers-message');

  async function refresh() {
    let viewers;
    try {
      viewers = await get('/vm/viewers');
    } catch (err) {
      if (dialog.open) showMessage(message, messageOf(err));
      return;
    }
    if (!dialog.open) return;
    $('#viewers-items').replaceChildren(...viewers.map((v) => viewerRow(v, end)));
    $('#viewers-none').hidden = viewers.length > 0;
  }

  async function end(v, el) {
    await busy(el, async () => {
      try {
        await post('/vm/viewers/end', { id: v.id });
        showMessage(message, `${who(v)} disconnected.`, 'ok');
      } catch (err) {
        showMessage(message, messageOf(err));
      }
      await refresh();
    });
  }

  button.addEventListener('click', () => {
    showMessage(message, '');
    dialog.showModal();
    refresh();
  });
  $('#viewers-close').addEventListener('click', () => dialog.close());
  setInterval(() => { if (dialog.open) refresh(); }, REFRESH_MS);
}

setupViewerList();
