// The dashboard (/profile): who is signed in, then the VM panel, catalog, ISO upload and
// snapshots, which share one context (the current VM, error display, sign-out on 401).
import { ApiError, get, goToSignIn, messageOf, post } from './api.js';
import { setupCatalog } from './catalog.js';
import { setupIsoUpload } from './iso_upload.js';
import { setupSnapshots } from './snapshots.js';
import { $, busy, showMessage } from './ui.js';
import { setupVmPanel } from './vm_panel.js';

const pageMessage = $('#page-message');

const ctx = {
  events: new EventTarget(),
  vm: null,  // the /vm/status body of the running VM, or null
  setVm(vm) {
    const changed = (vm?.vmid ?? null) !== (this.vm?.vmid ?? null);
    this.vm = vm;
    if (changed) this.events.dispatchEvent(new Event('vmchange'));
  },
  // Shows an error in `el` (or at the top of the page); a lost session goes back to sign-in.
  fail(err, el = pageMessage) {
    if (err instanceof ApiError && err.status === 401) {
      goToSignIn();
      return;
    }
    showMessage(el, messageOf(err), 'error');
  },
  say(text, kind = 'info', el = pageMessage) { showMessage(el, text, kind); },
  // Goes to the console of a VM /run-script, /run-iso or /run_snapshot returned.
  openConsole(result) { window.location.assign(result.redirect || `/console/${encodeURIComponent(result.vm.vmid)}`); },
  refreshVm: async () => {},
};

async function main() {
  let me;
  try {
    me = await get('/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { goToSignIn({ replace: true }); return; }
    ctx.fail(err);
    return;
  }
  $('#user-login').textContent = me.login;
  ctx.me = me;
  $('#logout').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    try {
      await post('/logout');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) { ctx.fail(err); return; }
    }
    goToSignIn();
  }));
  setupVmPanel(ctx);
  setupCatalog(ctx);
  setupIsoUpload(ctx);
  setupSnapshots(ctx);
}

main();
