// ISO upload: multipart field `file` to POST /api/post with XMLHttpRequest, because fetch cannot
// report upload progress; Cancel aborts it. Then "Boot ISO" calls POST /run-iso.
import { errorFrom, post } from './api.js';
import { $, busy, formatBytes, showMessage } from './ui.js';

export function setupIsoUpload(ctx) {
  const form = $('#iso-form');
  const input = $('#iso-file');
  const message = $('#iso-message');
  const uploadBtn = $('#iso-upload');
  const cancelBtn = $('#iso-cancel');
  const bootBtn = $('#iso-boot');
  const bar = $('#iso-bar');
  const fill = $('#iso-bar-fill');
  const text = $('#iso-progress-text');
  let xhr = null;

  function progress(loaded, total) {
    const pct = total ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
    fill.style.width = `${pct}%`;  // CSSOM, which a style-src 'self' policy allows
    bar.setAttribute('aria-valuenow', String(pct));
    text.textContent = `${formatBytes(loaded)} of ${formatBytes(total)} (${pct}%)`;
  }

  function finish() {
    xhr = null;
    uploadBtn.disabled = false;
    input.disabled = false;
    cancelBtn.hidden = true;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) { showMessage(message, 'Choose an ISO file first.'); input.focus(); return; }
    showMessage(message, '');
    const data = new FormData();
    data.append('file', file, file.name);
    xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/post');
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (e) => progress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      const status = xhr.status;
      const body = xhr.responseText;
      const retry = xhr.getResponseHeader('Retry-After');
      finish();
      if (status >= 200 && status < 300) {
        progress(file.size, file.size);
        showMessage(message, `Uploaded ${file.name} (${formatBytes(file.size)}). Boot it when you are ready.`, 'ok');
        bootBtn.hidden = false;
        bootBtn.focus();
      } else {
        $('#iso-progress').hidden = true;
        const err = errorFrom(status, body, retry);
        if (status === 401) ctx.fail(err); else showMessage(message, err.detail);
      }
    });
    xhr.addEventListener('error', () => {
      finish();
      $('#iso-progress').hidden = true;
      showMessage(message, 'The upload failed: the connection was lost (the file may be larger than the server accepts).');
    });
    xhr.addEventListener('abort', () => {
      finish();
      $('#iso-progress').hidden = true;
      showMessage(message, 'Upload cancelled.', 'info');
    });
    progress(0, file.size);
    $('#iso-progress').hidden = false;
    uploadBtn.disabled = true;
    input.disabled = true;
    cancelBtn.hidden = false;
    xhr.send(data);
  });

  cancelBtn.addEventListener('click', () => { if (xhr) xhr.abort(); });

  bootBtn.addEventListener('click', () => busy(bootBtn, async () => {
    try {
      ctx.openConsole(await post('/run-iso'));
    } catch (err) {
      ctx.fail(err, message);
    }
  }));
}
