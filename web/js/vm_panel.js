// The running VM: status, uptime, time left, a live thumbnail (GET /vm/screenshot every few
// seconds), open console, reset and stop. /user_info (always 200) says whether a VM runs, so
// the page does not probe /vm/status into a 404 when there is none.
import { ApiError, get, post } from './api.js';
import { $, busy, duration, secondsSince, secondsUntil } from './ui.js';

const STATUS_EVERY_MS = 5000;
const THUMB_EVERY_MS = 4000;

export function setupVmPanel(ctx) {
  const thumb = $('#vm-thumb');
  let thumbUrl = null;
  let thumbBusy = false;

  async function refresh() {
    let vm = null;
    try {
      const info = await get('/user_info');
      if (info.vmid) vm = await get('/vm/status');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) { ctx.fail(err); return; }
    }
    ctx.setVm(vm);
    render();
  }
  ctx.refreshVm = refresh;

  function render() {
    const vm = ctx.vm;
    $('#vm-none').hidden = !!vm;
    $('#vm-running').hidden = !vm;
    $('#vm-badge').hidden = !vm;
    if (!vm) return;
    const consoleUrl = `/console/${encodeURIComponent(vm.vmid)}`;
    $('#vm-open').href = consoleUrl;
    $('#vm-thumb-link').href = consoleUrl;
    $('#vm-badge').textContent = vm.status;
    $('#vm-os').textContent = vm.os_type;
    $('#vm-status').textContent = vm.status;
    $('#vm-viewers').textContent = String(vm.viewers ?? 0);
    tick();
  }

  function tick() {
    const vm = ctx.vm;
    if (!vm) return;
    $('#vm-uptime').textContent = duration(secondsSince(vm.started_at));
    $('#vm-left').textContent = vm.expires_at ? duration(secondsUntil(vm.expires_at)) : 'no limit';
  }

  async function refreshThumb() {
    if (!ctx.vm || thumbBusy || document.hidden) return;
    thumbBusy = true;
    try {
      const res = await get('/vm/screenshot', { raw: true });
      const url = URL.createObjectURL(await res.blob());
      thumb.src = url;
      thumb.hidden = false;
      $('#vm-thumb-wait').hidden = true;
      if (thumbUrl) URL.revokeObjectURL(thumbUrl);
      thumbUrl = url;
    } catch (err) {
      // The VM may be between states (starting, just stopped); the next round retries.
      if (err instanceof ApiError && err.status === 401) ctx.fail(err);
    } finally {
      thumbBusy = false;
    }
  }

  async function act(button, path, doneText) {
    await busy(button, async () => {
      try {
        await post(path);
        ctx.say(doneText, 'ok');
        await refresh();
      } catch (err) {
        ctx.fail(err);
      }
    });
  }
  $('#vm-stop').addEventListener('click', (e) => act(e.currentTarget, '/vm/stop', 'The VM was stopped.'));
  $('#vm-reset').addEventListener('click', (e) => act(e.currentTarget, '/vm/reset', 'The VM was reset.'));

  ctx.events.addEventListener('vmchange', () => {
    thumb.hidden = true;
    $('#vm-thumb-wait').hidden = false;
    refreshThumb();
  });
  refresh();
  setInterval(refresh, STATUS_EVERY_MS);
  setInterval(refreshThumb, THUMB_EVERY_MS);
  setInterval(tick, 1000);
}
