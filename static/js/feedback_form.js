// @ts-check
/** The region's form: autosave with an optimistic version, submit with errors by field, and
 * pulling the room's notes into an answer. The plain form post still works without this. */
import { act, themeNotes, watch } from './feedback_protocol.js';
import { socket } from './session.js';

const root = /** @type {HTMLElement} */ (document.getElementById('feedback-root'));
const form = /** @type {HTMLFormElement} */ (document.getElementById('feedback-form'));
const status = /** @type {HTMLElement} */ (document.getElementById('autosave-status'));
const versionInput = /** @type {HTMLInputElement} */ (document.getElementById('feedback-version'));
const s = JSON.parse(document.getElementById('feedback-i18n')?.textContent ?? '{}');
const slug = root.dataset.eventSlug ?? '';
const region = root.dataset.region ?? '';
const editable = root.dataset.editable === 'true';
let version = Number(versionInput.value);
let dirty = false;
let saving = false;
let stopped = false;
/** @type {number|undefined} */
let timer;

/** @returns {Record<string, string|string[]>} */
function answers() {
  /** @type {Record<string, string|string[]>} */
  const out = {};
  for (const el of form.querySelectorAll('[data-key]')) {
    const key = /** @type {HTMLElement} */ (el).dataset.key ?? '';
    const inputs = /** @type {NodeListOf<HTMLInputElement>} */ (el.querySelectorAll(`[name="a-${key}"]`));
    const first = inputs[0];
    if (!first) continue;
    if (first.type === 'checkbox') out[key] = [...inputs].filter((i) => i.checked).map((i) => i.value);
    else if (first.type === 'radio') out[key] = [...inputs].find((i) => i.checked)?.value ?? '';
    else out[key] = first.value;
  }
  return out;
}

function say(text) { status.textContent = text; }

async function save() {
  if (!dirty || saving || stopped) return;
  saving = true; dirty = false;
  say(s.saving);
  try {
    const saved = await act(slug, region, 'draft', version, answers());
    setVersion(saved.version);
    say(s.saved.replace('{time}', new Date(saved.updated_at).toLocaleTimeString('sv-SE', { hour: '2-digit', minute: '2-digit' })));
  } catch (err) {
    failed(/** @type {any} */ (err));
  } finally { saving = false; }
  if (dirty) schedule();
}

/** @param {any} err */
function failed(err) {
  if (err.code === 'feedback.conflict' || err.code === 'feedback.locked' || err.code === 'feedback.already_submitted') {
    stopped = true; say(err.message);
  } else if (err.status === 422) {
    say(err.message);
  } else {
    dirty = true; say(s.offline);
  }
}

/** @param {number} v */
function setVersion(v) { version = v; versionInput.value = String(v); }

function schedule() { clearTimeout(timer); timer = window.setTimeout(save, 1500); }

function clearErrors() {
  form.querySelectorAll('.js-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/** Show the server's message next to each field, as the page does without JavaScript. @param {Record<string,string>} fields */
function showErrors(fields) {
  clearErrors();
  let first = /** @type {HTMLElement|null} */ (null);
  for (const [key, message] of Object.entries(fields)) {
    const box = form.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!box) continue;
    const p = document.createElement('p');
    p.className = 'error js-error'; p.id = `f-${key}-error`; p.textContent = message;
    box.append(p);
    const target = /** @type {HTMLElement} */ (box.querySelector('input, textarea') && box.tagName !== 'FIELDSET' ? box.querySelector('input, textarea') : box);
    target.setAttribute('aria-invalid', 'true');
    target.setAttribute('aria-describedby', `${target.getAttribute('aria-describedby') ?? ''} ${p.id}`.trim());
    first ??= target;
  }
  first?.focus();
}

async function submit() {
  clearTimeout(timer);
  say(s.saving);
  try {
    await act(slug, region, 'submit', version, answers());
    window.location.assign(`${window.location.pathname}?done=submit`);
  } catch (err) {
    const e = /** @type {any} */ (err);
    if (e.fields) { say(s.errors); showErrors(e.fields); } else failed(e);
  }
}

if (editable) {
  form.addEventListener('input', () => { dirty = true; schedule(); });
  form.addEventListener('change', () => { dirty = true; schedule(); });
  window.addEventListener('online', () => { if (dirty) schedule(); });
  form.addEventListener('submit', (ev) => {
    const action = /** @type {HTMLButtonElement|null} */ (/** @type {SubmitEvent} */ (ev).submitter)?.value;
    if (action === 'submit') { ev.preventDefault(); submit(); }
    else if (action === 'draft') { ev.preventDefault(); dirty = true; save(); }
  });
  for (const box of form.querySelectorAll('.notes-pull')) /** @type {HTMLElement} */ (box).hidden = false;
  form.addEventListener('click', async (ev) => {
    const btn = /** @type {HTMLElement} */ (ev.target).closest('button.pull-notes');
    if (!btn) return;
    const area = /** @type {HTMLTextAreaElement} */ (document.getElementById(btn.getAttribute('data-target') ?? ''));
    const theme = /** @type {HTMLSelectElement} */ (document.getElementById(btn.getAttribute('data-theme-select') ?? '')).value;
    try {
      const text = (await themeNotes(slug, region, theme)).trim();
      if (!text) { say(s.notes_empty); return; }
      area.value = area.value.trim() ? `${area.value.trim()}\n\n${text}` : text;
      dirty = true; schedule(); say(s.notes_added); area.focus();
    } catch (err) { say(String(/** @type {Error} */ (err).message)); }
  });
}

socket.on('connect', () => { watch(socket, region).catch(() => {}); });
socket.on('feedback.saved', (/** @type {any} */ data) => {
  if (data.region_code === region && data.version > version && !saving) {
    stopped = true;
    say(s.newer.replace('{who}', data.updated_by));
  }
});
