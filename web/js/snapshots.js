// Snapshots: take one of the running VM (POST /snapshot), list (GET /get_user_snapshots), boot
// (POST /run_snapshot), delete (POST /remove_snapshot), download, and the quota bar. The quota
// starts from /me and follows whichever response last carried total_mb/cap_mb.
import { ApiError, get, post } from './api.js';
import { $, busy, confirmDeleteButton, formatMb, h, showMessage } from './ui.js';

export function setupSnapshots(ctx) {
  const list = $('#snap-list');
  const message = $('#snap-message');
  const createBtn = $('#snap-create');
  // /me carries the quota, so the bar is right before any snapshot response arrives.
  const quota = { total: ctx.me?.snapshot_stored_mb ?? null, cap: ctx.me?.snapshot_capacity_mb ?? null };
  let available = true;

  function renderQuota(items) {
    const total = quota.total ?? items.reduce((sum, s) => sum + Number(s.size_mb || 0), 0);
    const cap = quota.cap;
    const pct = cap ? Math.min(100, (total / cap) * 100) : 0;
    $('#quota-fill').style.width = `${pct}%`;
    $('#quota-fill').classList.toggle('bg-amber-500', pct >= 80 && pct < 95);
    $('#quota-fill').classList.toggle('bg-rose-500', pct >= 95);
    $('#quota-bar').setAttribute('aria-valuenow', String(Math.round(pct)));
    $('#quota-text').textContent = cap
      ? `Storage: ${formatMb(total)} of ${formatMb(cap)} used (${Math.round(pct)}%)`
      : `Storage: ${formatMb(total)} used`;
  }

  function takeQuota(body) {
    if (body && typeof body === 'object') {
      if (body.total_mb !== undefined) quota.total = Number(body.total_mb);
      if (body.cap_mb !== undefined) quota.cap = Number(body.cap_mb);
    }
  }

  function deleteButton(snap) {
    return confirmDeleteButton(`Delete snapshot ${snap.name}`, async () => {
      try {
        takeQuota(await post('/remove_snapshot', { snapshot: snap.name }));
        showMessage(message, 'Snapshot deleted.', 'ok');
        await refresh();
      } catch (err) {
        ctx.fail(err, message);
      }
    });
  }

  function item(snap) {
    const boot = h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'aria-label': `Boot snapshot ${snap.name}` }, 'Boot');
    boot.addEventListener('click', () => busy(boot, async () => {
      try {
        ctx.openConsole(await post('/run_snapshot', { snapshot: snap.name }));
      } catch (err) {
        ctx.fail(err, message);
      }
    }));
    const when = snap.modified ? new Date(snap.modified).toLocaleString() : '';
    return h('li', { class: 'snapshot py-3', 'data-name': snap.name },
      h('div', { class: 'flex flex-wrap items-baseline gap-x-2' },
        h('span', { class: 'font-medium' }, snap.os_type || 'snapshot'),
        h('span', { class: 'text-xs text-slate-400' }, `${formatMb(snap.size_mb)}${when ? ` · ${when}` : ''}`)),
      h('p', { class: 'truncate font-mono text-xs text-slate-500', title: snap.name }, snap.name),
      h('div', { class: 'mt-2 flex flex-wrap gap-2' }, boot,
        h('a', { class: 'btn btn-sm', href: `/snapshots/${encodeURIComponent(snap.name)}/download`, download: snap.name }, 'Download'),
        deleteButton(snap)));
  }

  async function refresh() {
    let body;
    try {
      body = await get('/get_user_snapshots');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        available = false;
        showMessage(message, 'Snapshots are not available on this server yet.', 'info');
        createBtn.disabled = true;
        return;
      }
      ctx.fail(err, message);
      return;
    }
    const items = Array.isArray(body) ? body : (body?.snapshots ?? []);
    if (!Array.isArray(body)) takeQuota(body);
    list.replaceChildren(...items.map(item));
    $('#snap-empty').hidden = items.length > 0;
    renderQuota(items);
  }

  createBtn.addEventListener('click', () => busy(createBtn, async () => {
    const vm = ctx.vm;
    if (!vm) return;
    showMessage(message, 'Taking a snapshot; this can take a while for a large disk…', 'info');
    try {
      const res = await post('/snapshot', { os_type: vm.os_type, vmid: vm.vmid });
      takeQuota(res);
      showMessage(message, `Snapshot saved (${formatMb(res.size_mb)}).`, 'ok');
      await refresh();
    } catch (err) {
      ctx.fail(err, message);
    }
  }).finally(syncCreate));

  function syncCreate() { createBtn.disabled = !available || !ctx.vm; }
  ctx.events.addEventListener('vmchange', syncCreate);
  refresh().then(syncCreate);
}
