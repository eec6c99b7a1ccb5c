// The catalog (GET /images) as cards with a Start button (POST /run-script).
import { get, post } from './api.js';
import { $, busy, h } from './ui.js';

export async function setupCatalog(ctx) {
  const list = $('#catalog');
  let images;
  try {
    images = await get('/images');
  } catch (err) {
    ctx.fail(err);
    return;
  }
  $('#catalog-empty').hidden = images.length > 0;
  for (const img of images) {
    const start = h('button', { type: 'button', class: 'btn btn-primary btn-sm', 'data-os': img.name,
      'aria-label': `Start ${img.title || img.name}` }, 'Start');
    start.addEventListener('click', () => busy(start, async () => {
      ctx.say(`Starting ${img.title || img.name}…`, 'info');
      try {
        const result = await post('/run-script', { os_type: img.name });
        if (result.vm.os_type !== img.name) {
          ctx.say(`You already have a VM running (${result.vm.os_type}). Stop it first to start another.`, 'info');
          await ctx.refreshVm();
          return;
        }
        ctx.openConsole(result);
      } catch (err) {
        ctx.fail(err);
      }
    }));
    const specs = [`${img.memory_mb} MB RAM`, `${img.cpus} CPU${img.cpus === 1 ? '' : 's'}`, img.kind].filter(Boolean).join(' · ');
    list.append(h('li', { class: 'flex flex-col gap-2 rounded-lg border border-slate-800 bg-slate-950/60 p-3' },
      h('div', { class: 'flex items-start gap-2' },
        h('h3', { class: 'font-medium' }, img.title || img.name),
        h('code', { class: 'ml-auto rounded bg-slate-800 px-1.5 py-0.5 text-xs text-slate-300' }, img.name)),
      img.description ? h('p', { class: 'muted' }, img.description) : null,
      h('div', { class: 'mt-auto flex items-center gap-2 pt-1' },
        h('span', { class: 'text-xs text-slate-400' }, specs), h('span', { class: 'ml-auto' }, start))));
  }
}
