// @ts-check
/** The participant's Q&A panel: ask, vote, see approved questions live. Text only via textContent. */
import { QaStore } from './qa_protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';

const panel = /** @type {HTMLElement|null} */ (document.getElementById('qa-panel'));
const s = JSON.parse(document.getElementById('qa-i18n')?.textContent ?? '{}');
const store = new QaStore(socket);

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
    h('p', { class: 'qa-text' }, [q.text ?? '']), h('p', { class: 'qa-meta' }, [meta]),
  ]);
  if (q.state === 'pending') li.prepend(h('span', { class: 'qa-badge pending' }, [s.pending]));
  if (q.state === 'answered') li.prepend(h('span', { class: 'qa-badge answered' }, [s.answered]));
  if (q.id === store.onScreenId) li.prepend(h('span', { class: 'qa-badge on-screen' }, [s.on_screen]));
  if (q.answer) li.append(h('p', { class: 'qa-answer' }, [`${s.answer_by.replace('{name}', q.answered_by ?? '')}: `, q.answer]));
  if (q.state !== 'pending') li.append(voteButton(q));
  return li;
}

/** @param {import('./qa_protocol.js').Question} q */
function voteButton(q) {
  const voted = store.voted.has(q.id);
  return h('button', {
    type: 'button', class: 'small secondary qa-vote', 'aria-pressed': String(voted), 'data-qid': String(q.id),
  }, [h('span', { 'aria-hidden': 'true' }, ['▲ ']), s.vote.replace('{count}', String(q.votes ?? 0))]);
}

function render() {
  const focused = /** @type {HTMLElement|null} */ (document.activeElement);
  const refocus = focused?.classList.contains('qa-vote') ? focused.dataset.qid : null;
  const qs = store.list(order(), ['approved', 'answered', 'pending']);
  list.replaceChildren(...qs.map(row));
  $('qa-empty').hidden = qs.length > 0;
  $('qa-closed').hidden = store.settings.open;
  form.hidden = !store.settings.open;
  $('qa-anon-field').hidden = !store.settings.allow_anonymous;
  if (refocus) /** @type {HTMLElement|null} */ (list.querySelector(`.qa-vote[data-qid="${refocus}"]`))?.focus();
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
  } catch (err) { say(/** @type {Error} */ (err).message); }
});

list?.addEventListener('click', async (/** @type {MouseEvent} */ ev) => {
  const btn = /** @type {HTMLElement} */ (ev.target).closest('button.qa-vote');
  if (!(btn instanceof HTMLElement)) return;
  const id = Number(btn.dataset.qid);
  try { await store.vote(id, !store.voted.has(id)); } catch (err) { say(/** @type {Error} */ (err).message); }
});

text?.addEventListener('input', count);
document.querySelectorAll('input[name="qa-order"]').forEach((r) => r.addEventListener('change', render));
store.subscribe(render);
if (panel) panel.dataset.ready = 'true';
