// @ts-check
/** The region's form: autosave with an optimistic version, submit with errors by field, and
 * pulling the room's notes into an answer. The plain form post still works without this.
 *
 * A save whose reply is lost may still have been stored: the next save then meets
 * `feedback.conflict`. The page asks for the stored response; if it holds what this page sent
 * (or shows), the page takes its version and goes on saving. Otherwise it says who saved when,
 * pauses autosave and keeps the user's text on the page. */
import { whenConnected } from './protocol.js';
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { afterConflict, sameAnswers } from './feedback_answers.js';
import { act, storedResponse, themeNotes, watch } from './feedback_protocol.js';
import { socket } from './session.js';

const root = /** @type {HTMLElement} */ (document.getElementById('feedback-root'));
const form = /** @type {HTMLFormElement} */ (document.getElementById('feedback-form'));
const status = /** @type {HTMLElement} */ (document.getElementById('autosave-status'));
const conflictBox = /** @type {HTMLElement} */ (document.getElementById('autosave-conflict'));
const conflictText = /** @type {HTMLElement} */ (document.getElementById('autosave-conflict-text'));
const keepMine = /** @type {HTMLButtonElement} */ (document.getElementById('autosave-keep-mine'));
const versionInput = /** @type {HTMLInputElement} */ (document.getElementById('feedback-version'));
const s = strings('feedback-i18n');
const slug = root.dataset.eventSlug ?? '';
const region = root.dataset.region ?? '';
const editable = root.dataset.editable === 'true';
const MAX_UNCONFIRMED = 20;
let version = Number(versionInput.value);
let dirty = false;
let saving = false;
let stopped = false;
/** Answers sent since the last confirmed save: any of them may be stored already. @type {Record<string, unknown>[]} */
let unconfirmed = [];
/** @type {Record<string, unknown>} */
let confirmed = editable ? answers() : {};
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

/** @param {string} text */
function say(text) { status.textContent = text; }

/** @param {string|null|undefined} iso */
function when(iso) {
  return iso ? new Date(iso).toLocaleString('sv-SE', { dateStyle: 'short', timeStyle: 'short' }) : '';
}

/** Send `answers` with the page's version; remember them until the server confirms. @param {'draft'|'submit'} action */
async function send(action) {
  const sending = answers();
  unconfirmed = [...unconfirmed, sending].slice(-MAX_UNCONFIRMED);
  const saved = await act(slug, region, action, version, sending);
  setVersion(saved.version);
  confirmed = sending; unconfirmed = [];
  return saved;
}

async function save() {
  if (!dirty || saving || stopped) return;
  saving = true; dirty = false;
  say(s.saving);
  try {
    const saved = await send('draft');
    say(s.saved.replace('{time}', new Date(saved.updated_at).toLocaleTimeString('sv-SE', { hour: '2-digit', minute: '2-digit' })));
  } catch (err) {
    await failed(/** @type {any} */ (err));
  } finally { saving = false; }
  if (dirty && !stopped) schedule();
}

/** @param {any} err */
async function failed(err) {
  if (err.code === 'feedback.conflict') {
    dirty = true; // what the page shows is not stored (yet)
    await reconcile();
  } else if (err.code === 'feedback.locked' || err.code === 'feedback.already_submitted') {
    stopped = true; say(errorMessage(err));
  } else if (err.status === 422) {
    say(errorMessage(err));
  } else {
    dirty = true; say(s.offline);
  }
}

/**
 * After a conflict or news of a newer version: read the stored response and either take its
 * version (it is this page's own lost save, or what the page shows) or show the conflict.
 * @returns {Promise<boolean>} whether the page took the stored version
 */
async function reconcile() {
  let stored;
  try { stored = await storedResponse(slug, region); } catch { dirty = true; say(s.offline); return false; }
  const current = answers();
  const next = afterConflict(stored, unconfirmed, current);
  if (next === 'adopt') {
    setVersion(stored.version);
    confirmed = stored.answers; unconfirmed = [];
    dirty = !sameAnswers(stored.answers, current);
    return true;
  }
  if (next === 'conflict' && sameAnswers(current, confirmed)) {
    show(stored); // nothing of the user's own is unsaved: show the co-editor's version
    return true;
  }
  stopped = true;
  showConflict(stored, next === 'conflict');
  return false;
}

/** Put the stored answers into the form (only when the page holds no edits of its own). @param {any} stored */
function show(stored) {
  for (const el of form.querySelectorAll('[data-key]')) {
    const key = /** @type {HTMLElement} */ (el).dataset.key ?? '';
    const value = stored.answers[key];
    const chosen = (Array.isArray(value) ? value : value == null ? [] : [value]).map(String);
    for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (el.querySelectorAll(`[name="a-${key}"]`))) {
      if (input.type === 'checkbox' || input.type === 'radio') input.checked = chosen.includes(input.value);
      else input.value = chosen[0] ?? '';
    }
  }
  setVersion(stored.version);
  confirmed = answers(); unconfirmed = []; dirty = false;
  say(s.updated.replace('{who}', stored.updated_by || s.someone).replace('{time}', when(stored.updated_at)));
}

/** Who saved the other version, and when; the user's text stays in the form. @param {any} stored @param {boolean} open whether it can still be saved over */
function showConflict(stored, open) {
  const who = stored.updated_by || s.someone;
  conflictBox.hidden = false;
  conflictText.textContent = s.conflict.replace('{who}', who).replace('{time}', when(stored.updated_at));
  keepMine.hidden = !open;
  keepMine.dataset.version = String(stored.version);
  say(conflictText.textContent);
}

/** The user chose to store their text over the other version. */
function overwrite() {
  setVersion(Number(keepMine.dataset.version));
  conflictBox.hidden = true;
  stopped = false; dirty = true;
  save();
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

async function submit(retried = false) {
  clearTimeout(timer);
  say(s.saving);
  try {
    await send('submit');
    window.location.assign(`${window.location.pathname}?done=submit`);
  } catch (err) {
    const e = /** @type {any} */ (err);
    if (e.fields) { say(s.errors); showErrors(e.fields); return; }
    if (e.code !== 'feedback.conflict') { await failed(e); return; }
    dirty = true;
    const adopted = await reconcile();
    if (adopted && !retried) await submit(true);
    else if (adopted) { say(s.offline); schedule(); }
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
  keepMine.addEventListener('click', overwrite);
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
    } catch (err) { say(errorMessage(err)); }
  });
}

whenConnected(socket, () => watch(socket, region));
socket.on('feedback.saved', async (/** @type {any} */ data) => {
  // Our own save announces itself too: a newer version may be the one whose reply was lost.
  if (!editable || data.region_code !== region || data.version <= version || saving || stopped) return;
  if (await reconcile() && dirty) schedule();
});
