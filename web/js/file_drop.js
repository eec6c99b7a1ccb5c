// Files into the VM: dragged onto the console page (or chosen with "Send files") they are
// uploaded to POST /vm/drop, which plugs them into the VM on a USB stick (the tiny guest mounts
// it at /mnt/usb). "Eject" unplugs it (POST /vm/drop/eject) and lists the files the guest left
// on it, each a download link. Progress uses XMLHttpRequest, which reports upload progress.
import { ApiError, errorFrom, get, messageOf, post } from './api.js';
import { $, formatBytes, h } from './ui.js';

const panel = h('div', {
  id: 'drop-panel', class: 'card absolute bottom-3 right-3 z-10 w-[min(24rem,calc(100vw-1.5rem))] space-y-2 text-sm',
  role: 'region', 'aria-label': 'Files sent to the VM', hidden: true,
});
const zone = h('div', {
  id: 'drop-zone', class: 'absolute inset-0 z-20 flex items-center justify-center border-4 border-dashed border-sky-400 bg-sky-950/80 p-4 text-center text-lg text-sky-100',
  hidden: true,
}, 'Drop files here to send them to the VM on a USB stick');
const input = h('input', { id: 'drop-input', type: 'file', multiple: true, hidden: true, 'aria-label': 'Files to send to the VM' });
const button = h('button', { id: 'drop-files', type: 'button', class: 'btn btn-sm', title: 'Send files to the VM on a USB stick', hidden: true }, 'Send files');

let busy = false;

function show(...children) {
  panel.replaceChildren(...children);
  panel.hidden = children.length === 0;
}

function closeButton() {
  return h('button', { type: 'button', class: 'btn btn-sm', onclick: () => show() }, 'Close');
}

function fileList(files, { links = false } = {}) {
  return h('ul', { class: 'max-h-40 space-y-0.5 overflow-auto' }, files.map((f) => h('li', { class: 'flex justify-between gap-2' },
    links
      ? h('a', { class: 'truncate underline', href: `/vm/drop/files/${encodeURIComponent(f.name)}`, download: f.name }, f.name)
      : h('span', { class: 'truncate' }, f.name),
    h('span', { class: 'muted shrink-0' }, formatBytes(f.size)))));
}

function showError(text) {
  show(h('p', { class: 'alert alert-error', role: 'alert' }, text), h('div', { class: 'flex justify-end' }, closeButton()));
}

function showPlugged(body) {
  const where = body.mounted_as ? `in ${body.mounted_as}` : `on the USB drive labelled ${body.label || 'VMSHARE'}`;
  const files = body.files || body.dropped || [];
  show(
    h('p', { id: 'drop-state', role: 'status' }, `${files.length} file${files.length === 1 ? '' : 's'} on the USB stick, ${where}.`),
    fileList(files),
    h('div', { class: 'flex justify-end gap-2' },
      h('button', { id: 'drop-eject', type: 'button', class: 'btn btn-sm btn-primary', onclick: eject }, 'Eject')),
  );
}

function showEjected(body) {
  const files = body.files || body.returned || [];
  const skipped = body.skipped ? ` (${body.skipped} could not be read)` : '';
  show(
    h('p', { id: 'drop-state', role: 'status' }, files.length
      ? `The USB stick came back with ${files.length} file${files.length === 1 ? '' : 's'}${skipped}:`
      : `The USB stick came back empty${skipped}.`),
    fileList(files, { links: true }),
    h('div', { class: 'flex justify-end' }, closeButton()),
  );
}

function progress(loaded, total) {
  const pct = total ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
  const bar = h('div', { class: 'h-2 rounded bg-slate-700', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': 'Upload' },
    h('div', { class: 'h-2 rounded bg-sky-500' }));
  bar.firstChild.style.width = `${pct}%`;  // CSSOM, which a style-src 'self' policy allows
  show(h('p', { role: 'status' }, `Sending ${formatBytes(loaded)} of ${formatBytes(total)}…`), bar);
}

function upload(files) {
  if (busy || !files.length) return;
  busy = true;
  button.disabled = true;
  const data = new FormData();
  let total = 0;
  for (const f of files) { data.append('files', f, f.name); total += f.size; }
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/vm/drop');
  xhr.upload.addEventListener('progress', (e) => progress(e.loaded, e.lengthComputable ? e.total : total));
  const done = () => { busy = false; button.disabled = false; input.value = ''; };
  xhr.addEventListener('load', () => {
    done();
    if (xhr.status >= 200 && xhr.status < 300) {
      try { showPlugged(JSON.parse(xhr.responseText)); } catch { showError('The server sent an unexpected answer.'); }
    } else {
      showError(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader('Retry-After')).detail);
    }
  });
  xhr.addEventListener('error', () => { done(); showError('Sending the files failed: the connection was lost (they may be larger than the server accepts).'); });
  progress(0, total);
  xhr.send(data);
}

async function eject() {
  if (busy) return;
  busy = true;
  const btn = $('#drop-eject');
  if (btn) btn.disabled = true;
  try {
    showEjected(await post('/vm/drop/eject'));
  } catch (err) {
    showError(messageOf(err));
  } finally {
    busy = false;
  }
}

// Dragging files anywhere over the page shows the drop zone over the screen.
function hasFiles(e) { return [...(e.dataTransfer?.types || [])].includes('Files'); }

function setup() {
  const main = $('main');
  const tools = $('header .ml-auto');
  if (!main || !tools) return;
  main.append(zone, panel);
  tools.prepend(button, input);
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => upload([...input.files]));
  let depth = 0;
  document.addEventListener('dragenter', (e) => { if (hasFiles(e) && !button.hidden) { depth += 1; zone.hidden = false; } });
  document.addEventListener('dragleave', (e) => { if (hasFiles(e) && --depth <= 0) { depth = 0; zone.hidden = true; } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e) && !button.hidden) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e) || button.hidden) return;
    e.preventDefault();
    depth = 0;
    zone.hidden = true;
    upload([...e.dataTransfer.files]);
  });
  // Only the VM's owner sends files (someone watching another's VM sees no button); a stick
  // plugged in (or ejected) before this page was opened shows at once.
  const vmid = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
  get('/vm/drop').then((s) => {
    button.hidden = s?.vmid !== vmid;
    if (button.hidden) return;
    if (s?.state === 'plugged') showPlugged(s);
    else if (s?.state === 'ejected' && s.returned?.length) showEjected(s);
  }).catch((err) => { if (!(err instanceof ApiError)) throw err; });
}

setup();
