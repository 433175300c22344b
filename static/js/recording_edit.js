// @ts-check
/** The archivist's page: times from the preview, chapter rows, live publish progress. */
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';

const i18n = strings('archive-i18n');
const video = /** @type {HTMLVideoElement|null} */ (document.getElementById('preview-video'));

/** @param {number} seconds */
function clock(seconds) {
  const whole = Math.floor(seconds);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const tenth = Math.round((seconds - whole) * 10);
  return `${Math.floor(whole / 3600)}:${pad(Math.floor(whole % 3600 / 60))}:${pad(whole % 60)}${tenth ? '.' + tenth : ''}`;
}

document.querySelectorAll('button.use-time').forEach((button) => {
  button.addEventListener('click', () => {
    const target = /** @type {HTMLInputElement} */ (document.getElementById(
      /** @type {HTMLElement} */ (button).dataset.target ?? ''));
    if (video && target) { target.value = clock(video.currentTime); target.focus(); }
  });
});

document.getElementById('add-chapter-here')?.addEventListener('click', () => {
  const rows = /** @type {HTMLElement} */ (document.getElementById('chapter-rows'));
  const n = rows.children.length + 1;
  const row = document.createElement('div');
  row.className = 'chapter-row';
  for (const [kind, name, value] of [['start', 'chapter_start', clock(video?.currentTime ?? 0)],
    ['title', 'chapter_title', i18n.new_chapter]]) {
    const cell = document.createElement('div');
    const label = document.createElement('label');
    label.htmlFor = `chapter-${kind}-${n}`;
    label.textContent = String(i18n[`chapter_${kind}`]).replace('{n}', String(n));
    const input = document.createElement('input');
    Object.assign(input, { type: 'text', id: `chapter-${kind}-${n}`, name, value });
    cell.append(label, input);
    row.append(cell);
  }
  rows.append(row);
  /** @type {HTMLInputElement} */ (row.querySelector('input[name=chapter_title]')).select();
});

const section = /** @type {HTMLElement|null} */ (document.getElementById('publish'));

/** Poll the job's state while it is queued or running; the bar and the status text follow. */
async function poll() {
  if (!section) return;
  const res = await fetch(section.dataset.progressUrl ?? '', { credentials: 'same-origin' });
  if (!res.ok) return;
  const state = await res.json();
  const bar = /** @type {HTMLProgressElement} */ (document.getElementById('publish-bar'));
  bar.value = state.progress;
  bar.textContent = `${state.progress} %`;
  const status = /** @type {HTMLElement} */ (document.getElementById('publish-status'));
  status.textContent = state.status === 'running' ? `${i18n.running} (${state.progress} %)` : i18n[state.status];
  const error = /** @type {HTMLElement} */ (document.getElementById('publish-error'));
  error.hidden = !state.error;
  error.textContent = state.error ? errorMessage(state.error) : '';
  /** @type {HTMLElement} */ (document.getElementById('publish-links')).hidden = state.status !== 'published';
  const button = /** @type {HTMLButtonElement} */ (document.getElementById('publish-button'));
  const busy = state.status === 'queued' || state.status === 'running';
  if (!document.getElementById('publish-blocked')) button.disabled = busy;
  if (busy) setTimeout(poll, 700);
}

if (section && ['queued', 'running'].includes(section.dataset.status ?? '')) poll();
