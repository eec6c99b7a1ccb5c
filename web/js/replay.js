// The replay page (/replay/<id>): noVNC plays a recording from /ws/replay/<id>?from=&speed=. The
// server paces the stored frames; this page only chooses where and how fast. Pause, seek and a
// speed change each end the current stream and start another from the position shown (the
// server starts it at the nearest full frame, so seeking is quick); while no stream runs, the
// last picture stays on a still canvas.
import RFB from '/vendor/novnc/core/rfb.js';
import { get, goToSignIn } from './api.js';
import { $ } from './ui.js';

const id = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const state = { rfb: null, duration: 0, position: 0, speed: 1, playing: false, startedAt: 0, startedFrom: 0, ended: false };

function fmt(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function setState(text) { $('#replay-state').textContent = text; }

function position() {
  if (!state.playing || !state.startedAt) return state.position;
  return Math.min(state.duration, state.startedFrom + (performance.now() - state.startedAt) * state.speed);
}

function render() {
  const pos = position();
  const seek = $('#seek');
  if (document.activeElement !== seek || !seek.matches(':active')) seek.value = String(Math.round(pos));
  $('#clock').textContent = `${fmt(pos)} / ${fmt(state.duration)}`;
  $('#play').textContent = state.playing ? 'Pause' : 'Play';
  $('#play').setAttribute('aria-label', state.playing ? 'Pause' : 'Play');
  for (const b of document.querySelectorAll('.speed')) b.setAttribute('aria-pressed', String(Number(b.dataset.speed) === state.speed));
}

// Keeps the picture when the stream ends (noVNC takes its canvas away on disconnect).
function keepStill() {
  const live = $('#screen canvas');
  const still = $('#still');
  if (!live || !live.width) return;
  still.width = live.width;
  still.height = live.height;
  still.getContext('2d').drawImage(live, 0, 0);
  still.hidden = false;
}

function stopStream() {
  state.position = position();
  const rfb = state.rfb;
  state.rfb = null;
  state.startedAt = 0;
  if (rfb) {
    keepStill();
    rfb.disconnect();
  }
}

function play(from) {
  stopStream();
  state.ended = false;
  state.position = Math.max(0, Math.min(from, state.duration));
  state.playing = true;
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${window.location.host}/ws/replay/${encodeURIComponent(id)}?from=${Math.round(state.position)}&speed=${state.speed}`;
  const rfb = new RFB($('#screen'), url, { wsProtocols: ['binary'] });
  rfb.background = '#000';
  rfb.viewOnly = true;
  rfb.scaleViewport = true;
  rfb.resizeSession = false;
  rfb.addEventListener('connect', () => {
    if (state.rfb !== rfb) return;
    state.startedAt = performance.now();
    state.startedFrom = state.position;
    $('#still').hidden = true;
    setState(`Playing ${state.speed}×`);
  });
  rfb.addEventListener('disconnect', (e) => {
    if (state.rfb !== rfb) return;
    keepStill();
    state.rfb = null;
    state.playing = false;
    if (e.detail?.clean) {
      state.position = state.duration;
      state.ended = true;
      setState('Ended');
    } else {
      state.position = position();
      setState('Disconnected');
    }
    render();
  });
  state.rfb = rfb;
  setState('Connecting…');
  render();
}

function pause() {
  stopStream();
  state.playing = false;
  setState('Paused');
  render();
}

async function main() {
  $('#download').href = `/recordings/${encodeURIComponent(id)}/download`;
  let recording;
  try {
    const all = await get('/recordings');
    recording = all.find((r) => r.id === id && r.state === 'ready');
  } catch (err) {
    if (err.status === 401) { goToSignIn(); return; }
    throw err;
  }
  if (!recording) {
    setState('Not found');
    $('#replay-message').textContent = 'No such recording.';
    $('#replay-message').hidden = false;
    return;
  }
  document.title = `Replay of ${recording.os_type} · vmshare`;
  state.duration = Number(recording.duration_ms) || 0;
  $('#seek').max = String(state.duration);
  $('#play').addEventListener('click', () => {
    if (state.playing) pause();
    else play(state.ended ? 0 : state.position);
  });
  for (const b of document.querySelectorAll('.speed')) {
    b.addEventListener('click', () => {
      state.position = position();
      state.speed = Number(b.dataset.speed);
      if (state.playing) play(state.position);
      render();
    });
  }
  $('#seek').addEventListener('change', () => {
    const to = Number($('#seek').value);
    if (state.playing) play(to);
    else { state.position = to; render(); }
  });
  setInterval(render, 250);
  play(0);
}

main().catch((err) => {
  $('#replay-message').textContent = err.message || String(err);
  $('#replay-message').hidden = false;
});
