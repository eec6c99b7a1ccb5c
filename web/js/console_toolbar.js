// The console toolbar: scaling, key combinations, paste-as-keystrokes, screenshot download,
// view-only and fullscreen. Settings live in `state.settings` so a reconnect keeps them.
import { get } from './api.js';
import { sendCombo, typeText } from './keystrokes.js';
import { $, showMessage } from './ui.js';

export function setupToolbar({ state, vmid }) {
  const rfb = () => state.rfb;
  const refocus = () => rfb()?.focus();

  $('#scale').addEventListener('change', (e) => {
    state.settings.scale = e.target.value;
    if (rfb()) rfb().scaleViewport = state.settings.scale === 'fit';
    refocus();
  });

  $('#send-combo').addEventListener('click', () => {
    if (!state.connected) return;
    sendCombo(rfb(), $('#combo').value);
    refocus();
  });

  const viewOnly = $('#view-only');
  viewOnly.addEventListener('click', () => {
    state.settings.viewOnly = !state.settings.viewOnly;
    if (rfb()) rfb().viewOnly = state.settings.viewOnly;
    viewOnly.setAttribute('aria-pressed', String(state.settings.viewOnly));
    viewOnly.classList.toggle('btn-primary', state.settings.viewOnly);
    viewOnly.textContent = state.settings.viewOnly ? 'View only: on' : 'View only';
  });

  const fullscreen = $('#fullscreen');
  fullscreen.hidden = !document.fullscreenEnabled;
  fullscreen.addEventListener('click', async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await document.documentElement.requestFullscreen();
    } catch { /* refused by the browser: nothing to do */ }
    refocus();
  });
  document.addEventListener('fullscreenchange', () => {
    fullscreen.textContent = document.fullscreenElement ? 'Exit fullscreen' : 'Fullscreen';
  });

  $('#screenshot').addEventListener('click', async () => {
    const name = `vmshare-${vmid}-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
    // The canvas when connected; otherwise the server's screenshot of the VM.
    const blob = state.connected
      ? await new Promise((resolve) => rfb().toBlob(resolve, 'image/png'))
      : await get('/vm/screenshot', { raw: true }).then((r) => r.blob()).catch(() => null);
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });

  // Paste: a dialog with the text (pre-filled from the clipboard when the browser allows).
  const dialog = $('#paste-dialog');
  const text = $('#paste-text');
  const message = $('#paste-message');
  async function readClipboard() {
    try {
      text.value = await navigator.clipboard.readText();
      showMessage(message, '');
    } catch {
      showMessage(message, 'The browser did not allow reading the clipboard; paste into the box instead (Ctrl+V).', 'info');
    }
  }
  $('#paste').addEventListener('click', () => {
    showMessage(message, '');
    dialog.showModal();
    text.focus();
    if (navigator.clipboard?.readText && !text.value) readClipboard();
  });
  $('#paste-read').addEventListener('click', readClipboard);
  $('#paste-cancel').addEventListener('click', () => dialog.close());
  $('#paste-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!state.connected || state.settings.viewOnly) {
      showMessage(message, state.connected ? 'Turn view-only off to type.' : 'Not connected to the VM.');
      return;
    }
    const value = text.value;
    dialog.close();
    await typeText(rfb(), value);
    text.value = '';
    refocus();
  });
}
