// The console page's Share dialog (issue 15): make a link to this VM's console (view only or
// control, an expiry from 5 minutes to 24 hours, sign-in required or not), copy its URL (shown
// once: the server keeps only a hash of the token), and see and revoke the live links.
import { get, messageOf, post } from './api.js';
import { $, busy, duration, h, secondsUntil, showMessage } from './ui.js';

const EXPIRY = [[5, '5 minutes'], [15, '15 minutes'], [60, '1 hour'], [240, '4 hours'], [1440, '24 hours']];
const MODE_TEXT = { view_only: 'View only', control: 'Control' };

function buildDialog() {
  const dialog = h('dialog', { id: 'share-dialog', 'aria-labelledby': 'share-title',
    class: 'm-auto w-[min(36rem,calc(100vw-2rem))] rounded-xl border border-slate-700 bg-slate-900 p-0 text-slate-100 backdrop:bg-black/60' },
  h('form', { id: 'share-form', method: 'dialog', class: 'space-y-3 p-4' },
    h('h2', { id: 'share-title', class: 'text-lg font-semibold' }, 'Share this console'),
    h('div', { class: 'grid gap-3 sm:grid-cols-2' },
      h('div', {},
        h('label', { for: 'share-mode', class: 'field-label' }, 'Visitors may'),
        h('select', { id: 'share-mode', class: 'input' },
          h('option', { value: 'view_only' }, 'Only watch (view only)'),
          h('option', { value: 'control' }, 'Use keyboard and mouse'))),
      h('div', {},
        h('label', { for: 'share-expiry', class: 'field-label' }, 'Link expires after'),
        h('select', { id: 'share-expiry', class: 'input' },
          EXPIRY.map(([m, text]) => h('option', { value: m, selected: m === 60 }, text))))),
    h('label', { class: 'flex items-center gap-2 text-sm text-slate-300' },
      h('input', { id: 'share-sign-in', type: 'checkbox', class: 'h-4 w-4 accent-sky-500' }),
      'Visitors must be signed in to vmshare'),
    h('p', { id: 'share-message', class: 'alert alert-error', role: 'alert', hidden: true }),
    h('div', { id: 'share-result', class: 'space-y-1', hidden: true },
      h('label', { for: 'share-url', class: 'field-label' }, 'Link (shown only now: copy it)'),
      h('div', { class: 'flex gap-2' },
        h('input', { id: 'share-url', class: 'input font-mono text-xs', readonly: true }),
        h('button', { id: 'share-copy', type: 'button', class: 'btn btn-sm shrink-0' }, 'Copy'))),
    h('div', { class: 'flex flex-wrap justify-end gap-2' },
      h('button', { id: 'share-close', type: 'button', class: 'btn btn-sm' }, 'Close'),
      h('button', { id: 'share-create', type: 'submit', class: 'btn btn-sm btn-primary' }, 'Create link')),
    h('section', { 'aria-labelledby': 'share-live-title', class: 'border-t border-slate-800 pt-3' },
      h('h3', { id: 'share-live-title', class: 'mb-2 text-sm font-semibold text-slate-300' }, 'Live links'),
      h('p', { id: 'share-none', class: 'muted' }, 'No live links.'),
      h('ul', { id: 'share-links', class: 'space-y-2' }))));
  document.body.append(dialog);
  return dialog;
}

function linkRow(link, onRevoke) {
  const left = duration(secondsUntil(link.expires_at));
  const bits = [MODE_TEXT[link.mode] ?? link.mode, `expires in ${left}`, `${link.viewers} watching`];
  if (link.sign_in) bits.push('sign-in required');
  return h('li', { class: 'flex items-center gap-2 rounded-lg border border-slate-800 px-3 py-2 text-sm', 'data-link-id': link.id },
    h('span', { class: 'font-mono text-slate-400' }, `#${link.id}`),
    h('span', { class: 'min-w-0 flex-1 truncate' }, bits.join(' · ')),
    h('button', { type: 'button', class: 'btn btn-sm btn-danger', onclick: (e) => onRevoke(link, e.currentTarget) }, 'Revoke'));
}

export function setupShareDialog() {
  const button = $('#share');
  if (!button) return;
  const dialog = buildDialog();
  const message = $('#share-message');

  async function refresh() {
    try {
      const links = await get('/vm/shares');
      $('#share-links').replaceChildren(...links.map((l) => linkRow(l, revoke)));
      $('#share-none').hidden = links.length > 0;
    } catch (err) {
      showMessage(message, messageOf(err));
    }
  }

  async function revoke(link, el) {
    await busy(el, async () => {
      try {
        await post('/vm/share/revoke', { id: link.id });
        showMessage(message, `Link #${link.id} revoked; its viewers were disconnected.`, 'ok');
      } catch (err) {
        showMessage(message, messageOf(err));
      }
      await refresh();
    });
  }

  button.addEventListener('click', () => {
    showMessage(message, '');
    $('#share-result').hidden = true;
    dialog.showModal();
    refresh();
  });
  $('#share-close').addEventListener('click', () => dialog.close());
  $('#share-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#share-create'), async () => {
      try {
        const made = await post('/vm/share', {
          mode: $('#share-mode').value, minutes: Number($('#share-expiry').value), sign_in: $('#share-sign-in').checked,
        });
        $('#share-url').value = new URL(made.url, window.location.origin).href;
        $('#share-result').hidden = false;
        showMessage(message, '');
        $('#share-url').select();
      } catch (err) {
        showMessage(message, messageOf(err));
      }
      await refresh();
    });
  });
  $('#share-copy').addEventListener('click', async () => {
    const url = $('#share-url');
    try {
      await navigator.clipboard.writeText(url.value);
      showMessage(message, 'Link copied to the clipboard.', 'ok');
    } catch {
      url.select();
      showMessage(message, 'The browser did not allow copying; the link is selected: press Ctrl+C.', 'info');
    }
  });
}

setupShareDialog();
