// @ts-check
/**
 * The live page's Q&A panel: participants ask, vote and see approved questions live; a speaker
 * (the panel's `data-answer`, set by the server) answers approved questions in writing instead.
 * Text only via textContent.
 */
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { QaStore } from './qa_protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';

const panel = /** @type {HTMLElement|null} */ (document.getElementById('qa-panel'));
const s = strings('qa-i18n');
const store = new QaStore(socket);
/** A UI hint only: the server checks the role again on `qa.answer`. */
const speaker = panel?.dataset.answer === 'true';
const ANSWERABLE = ['approved', 'answered'];
/** @type {Map<number, HTMLFormElement>} open answer forms, kept across renders so typing survives updates */
const answering = new Map();

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const form = $('qa-form');
const text = $('qa-text');
const list = $('qa-list');
const status = $('qa-status');
const items = new Map([...(document.querySelectorAll('#qa-item option') ?? [])]
  .map((o) => [Number(/** @type {HTMLOptionElement} */ (o).value), o.textContent ?? '']));

/** @param {string} msg */
function say(msg) { status.textContent = msg; }

function order() {
  const checked = /** @type {HTMLInputElement|null} */ (document.querySelector('input[name="qa-order"]:checked'));
  return checked?.value === 'time' ? 'time' : 'votes';
}

/** @param {import('./qa_protocol.js').Question} q */
function row(q) {
  const meta = [q.anonymous ? s.anonymous : (q.author ?? ''), items.get(Number(q.item_id)) ?? '']
    .filter(Boolean).join(' · ');
  const li = h('li', { class: `qa-question state-${q.state}`, 'data-qid': String(q.id) }, [
    h('p', { class: 'qa-text', id: `qa-q-${q.id}` }, [q.text ?? '']), h('p', { class: 'qa-meta' }, [meta]),
  ]);
  if (q.state === 'pending') li.prepend(h('span', { class: 'qa-badge pending' }, [s.pending]));
  if (q.state === 'answered') li.prepend(h('span', { class: 'qa-badge answered' }, [s.answered]));
  if (q.id === store.onScreenId) li.prepend(h('span', { class: 'qa-badge on-screen' }, [s.on_screen]));
  if (q.answer) li.append(h('p', { class: 'qa-answer' }, [`${s.answer_by.replace('{name}', q.answered_by ?? '')}: `, q.answer]));
  if (speaker) li.append(...speakerControls(q));
  else if (q.state !== 'pending') li.append(voteButton(q));
  return li;
}

/** A speaker sees the votes and, on an approved or answered question, the written-answer form. @param {import('./qa_protocol.js').Question} q */
function speakerControls(q) {
  const votes = h('p', { class: 'qa-meta' }, [s.votes.replace('{count}', String(q.votes ?? 0))]);
  if (!ANSWERABLE.includes(q.state)) return [votes];
  const form = answering.get(q.id);
  const toggle = h('button', {
    type: 'button', class: 'small secondary qa-answer-toggle', 'data-qid': String(q.id),
    'aria-expanded': String(Boolean(form)), 'aria-describedby': `qa-q-${q.id}`,
    ...(form ? { 'aria-controls': form.id } : {}),
  }, [s.answer_in_writing]);
  return form ? [votes, toggle, form] : [votes, toggle];
}

/** @param {import('./qa_protocol.js').Question} q */
function answerForm(q) {
  const id = `qa-answer-${q.id}`;
  const area = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id: `${id}-text`, name: 'answer', rows: '4', maxlength: '5000', required: '', 'aria-describedby': `${id}-help`,
  }));
  area.value = q.answer ?? '';
  return /** @type {HTMLFormElement} */ (h('form', { class: 'qa-answer-form', id, 'data-qid': String(q.id), novalidate: '' }, [
    h('label', { for: area.id }, [s.your_answer]), area,
    h('p', { class: 'help', id: `${id}-help` }, [s.answer_help]),
    h('div', { class: 'actions' }, [
      h('button', { type: 'submit', class: 'small' }, [s.publish_answer]),
      h('button', { type: 'button', class: 'small secondary qa-answer-cancel', 'data-qid': String(q.id) }, [s.cancel]),
    ]),
  ]));
}

/** @param {number} id */
function focusToggle(id) {
  /** @type {HTMLElement|null} */ (list.querySelector(`.qa-answer-toggle[data-qid="${id}"]`))?.focus();
}

/** @param {number} id */
function openAnswer(id) {
  const q = store.questions.get(id);
  if (!q) return;
  const form = answerForm(q);
  answering.set(id, form);
  render();
  /** @type {HTMLElement|null} */ (form.querySelector('textarea'))?.focus();
}

/** @param {number} id */
function closeAnswer(id) {
  answering.delete(id);
  render();
  focusToggle(id);
}

/** @param {HTMLFormElement} formEl */
async function submitAnswer(formEl) {
  const id = Number(formEl.dataset.qid);
  const area = /** @type {HTMLTextAreaElement} */ (formEl.querySelector('textarea'));
  const value = area.value.trim();
  if (!value) { say(s.answer_empty); area.focus(); return; }
  const submit = /** @type {HTMLButtonElement} */ (formEl.querySelector('button[type="submit"]'));
  submit.disabled = true;
  try {
    await store.command('qa.answer', { question_id: id, text: value });
    say(s.answer_published);
    closeAnswer(id);
  } catch (err) { say(errorMessage(err)); } finally { submit.disabled = false; }
}

/** @param {import('./qa_protocol.js').Question} q */
function voteButton(q) {
  const voted = store.voted.has(q.id);
  return h('button', {
    type: 'button', class: 'small secondary qa-vote', 'aria-pressed': String(voted), 'data-qid': String(q.id),
  }, [h('span', { 'aria-hidden': 'true' }, ['▲ ']), s.vote.replace('{count}', String(q.votes ?? 0))]);
}

/** Where focus is in the list, so a re-render (a vote, a new question) puts it back. */
function focusMark() {
  const focused = /** @type {HTMLElement|null} */ (document.activeElement);
  if (!focused || !list.contains(focused)) return () => {};
  if (focused.closest('.qa-answer-form')) return keepFocus(focused);  // the same element is re-used
  const cls = ['qa-vote', 'qa-answer-toggle'].find((c) => focused.classList.contains(c));
  const qid = focused.dataset.qid;
  return () => { if (cls) /** @type {HTMLElement|null} */ (list.querySelector(`.${cls}[data-qid="${qid}"]`))?.focus(); };
}

/** @param {HTMLElement} el */
function keepFocus(el) {
  const area = el instanceof HTMLTextAreaElement ? el : null;
  const [start, end] = area ? [area.selectionStart, area.selectionEnd] : [0, 0];
  return () => {
    if (!el.isConnected) return;
    el.focus();
    if (area) area.setSelectionRange(start, end);
  };
}

function render() {
  const refocus = focusMark();
  const qs = store.list(order(), ['approved', 'answered', 'pending']);
  for (const id of answering.keys()) {
    if (!ANSWERABLE.includes(store.questions.get(id)?.state ?? '')) answering.delete(id);
  }
  list.replaceChildren(...qs.map(row));
  $('qa-empty').hidden = qs.length > 0;
  $('qa-closed').hidden = store.settings.open;
  form.hidden = !store.settings.open || speaker;  // speakers answer; only participants ask
  $('qa-anon-field').hidden = !store.settings.allow_anonymous;
  refocus();
}

function count() {
  $('qa-count').textContent = s.count.replace('{count}', String(text.value.trim().length));
}

form?.addEventListener('submit', async (/** @type {Event} */ ev) => {
  ev.preventDefault();
  const value = text.value.trim();
  if (!value) { say(s.empty); text.focus(); return; }
  const item = $('qa-item').value;
  try {
    const q = await store.ask(value, $('qa-anon').checked, item ? Number(item) : null);
    text.value = '';
    count();
    say(q.state === 'pending' ? s.sent_pending : s.sent);
  } catch (err) { say(errorMessage(err)); }
});

list?.addEventListener('click', async (/** @type {MouseEvent} */ ev) => {
  const btn = /** @type {HTMLElement} */ (ev.target).closest('button[data-qid]');
  if (!(btn instanceof HTMLElement)) return;
  const id = Number(btn.dataset.qid);
  if (btn.classList.contains('qa-answer-toggle')) { if (answering.has(id)) closeAnswer(id); else openAnswer(id); return; }
  if (btn.classList.contains('qa-answer-cancel')) { closeAnswer(id); return; }
  if (!btn.classList.contains('qa-vote')) return;
  try { await store.vote(id, !store.voted.has(id)); } catch (err) { say(errorMessage(err)); }
});

list?.addEventListener('submit', (/** @type {SubmitEvent} */ ev) => {
  const formEl = /** @type {HTMLElement} */ (ev.target);
  if (!(formEl instanceof HTMLFormElement) || !formEl.classList.contains('qa-answer-form')) return;
  ev.preventDefault();
  submitAnswer(formEl);
});

list?.addEventListener('keydown', (/** @type {KeyboardEvent} */ ev) => {
  const formEl = /** @type {HTMLElement} */ (ev.target).closest('.qa-answer-form');
  if (ev.key === 'Escape' && formEl instanceof HTMLFormElement) closeAnswer(Number(formEl.dataset.qid));
});

text?.addEventListener('input', count);
document.querySelectorAll('input[name="qa-order"]').forEach((r) => r.addEventListener('change', render));
store.subscribe(render);
if (panel) panel.dataset.ready = 'true';
