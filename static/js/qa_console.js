// @ts-check
/**
 * The moderator's Q&A console: pending queue, approve, reject, edit, merge, answer, put on
 * screen, open/close. Cards are kept per question and updated in place, so a moderator typing
 * an answer is not interrupted when other questions arrive. Works at phone width.
 */
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { QaStore } from './qa_protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';

const s = strings('qa-i18n');
const store = new QaStore(socket, { moderator: true });
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const list = $('qa-mod-list');
/** @type {Map<number, HTMLElement>} */
const cards = new Map();

/** @param {string} msg */
function say(msg) { $('qa-mod-status').textContent = msg; }

function filter() {
  const checked = /** @type {HTMLInputElement|null} */ (document.querySelector('input[name="qa-filter"]:checked'));
  return checked?.value ?? 'pending';
}

/** @param {string} name @param {object} payload @param {string} [done] */
async function run(name, payload, done) {
  try { await store.command(name, payload); say(done ?? s.done); } catch (err) { say(errorMessage(err)); }
}

/** @param {number} id @param {string} key @param {string} label @param {string} tag */
function labelled(id, key, label, tag = 'input') {
  const field = h(tag, { id: `qa-${key}-${id}`, name: key, ...(tag === 'textarea' ? { rows: '2' } : { type: 'text' }) });
  return [h('label', { for: `qa-${key}-${id}` }, [label]), field];
}

/** A card's fixed structure; `update` fills the parts that change. @param {number} id */
function card(id) {
  const li = h('li', { class: 'qa-question qa-card', 'data-qid': String(id) });
  const buttons = h('div', { class: 'actions qa-actions' }, [
    h('button', { type: 'button', class: 'small', 'data-act': 'approve' }, [s.approve]),
    h('button', { type: 'button', class: 'small', 'data-act': 'show' }, [s.show]),
    h('button', { type: 'button', class: 'small secondary', 'data-act': 'answered' }, [s.answered]),
  ]);
  const more = h('details', { class: 'qa-more' }, [h('summary', {}, [s.more]),
    h('form', { 'data-act': 'reject' }, [...labelled(id, 'reason', s.reason, 'input'),
      h('button', { type: 'submit', class: 'small danger' }, [s.reject])]),
    h('form', { 'data-act': 'edit' }, [...labelled(id, 'text', s.edit, 'textarea'),
      h('button', { type: 'submit', class: 'small' }, [s.save])]),
    h('form', { 'data-act': 'merge' }, [h('label', { for: `qa-into-${id}` }, [s.merge_into]),
      h('select', { id: `qa-into-${id}`, name: 'into' }), h('button', { type: 'submit', class: 'small' }, [s.merge])]),
    h('form', { 'data-act': 'answer' }, [...labelled(id, 'answer', s.answer_text, 'textarea'),
      ...labelled(id, 'by', s.answered_by, 'input'), h('button', { type: 'submit', class: 'small' }, [s.answer])]),
  ]);
  li.append(h('p', { class: 'qa-text' }), h('p', { class: 'qa-meta' }), h('p', { class: 'qa-answer' }), buttons, more);
  return li;
}

/** @param {HTMLElement} li @param {import('./qa_protocol.js').Question} q */
function update(li, q) {
  const find = (/** @type {string} */ sel) => /** @type {any} */ (li.querySelector(sel));
  find('.qa-text').textContent = q.text ?? '';
  const meta = [`#${q.id}`, q.anonymous ? s.anonymous : q.author, s.votes.replace('{count}', String(q.votes ?? 0)),
    s[`state_${q.state}`], q.reject_reason ? `${s.reason_shown}: ${q.reject_reason}` : ''];
  find('.qa-meta').textContent = meta.filter(Boolean).join(' · ');
  find('.qa-answer').textContent = q.answer ? `${s.answer_by.replace('{name}', q.answered_by ?? '')}: ${q.answer}` : '';
  const onScreen = store.onScreenId === q.id;
  li.classList.toggle('on-screen', onScreen);
  const show = find('[data-act="show"]');
  show.hidden = !['approved', 'answered'].includes(q.state);
  show.setAttribute('aria-pressed', String(onScreen));
  show.textContent = onScreen ? s.on_screen : s.show;
  find('[data-act="approve"]').hidden = !['pending', 'rejected'].includes(q.state);
  const answered = find('[data-act="answered"]');
  answered.hidden = !['approved', 'answered'].includes(q.state);
  answered.textContent = q.state === 'answered' ? s.unanswer : s.answered;
  find('form[data-act="reject"]').hidden = q.state === 'rejected';
  for (const el of li.querySelectorAll('button')) el.setAttribute('aria-describedby', `qa-label-${q.id}`);
  find('.qa-text').id = `qa-label-${q.id}`;
  const textarea = find('textarea[name="text"]');
  if (document.activeElement !== textarea && !textarea.dataset.dirty) textarea.value = q.text ?? '';
  mergeTargets(find('select[name="into"]'), q.id);
}

/** @param {HTMLSelectElement} select @param {number} id */
function mergeTargets(select, id) {
  const keep = select.value;
  const targets = store.list('time', ['pending', 'approved', 'answered']).filter((t) => t.id !== id);
  select.replaceChildren(...targets.map((t) => h('option', { value: String(t.id) }, [`#${t.id} ${(t.text ?? '').slice(0, 60)}`])));
  if (keep) select.value = keep;
}

function render() {
  const state = filter();
  const order = state === 'approved' ? 'votes' : 'time';
  const qs = store.list(order, [state]);
  for (const st of ['pending', 'approved', 'answered', 'rejected']) $(`qa-n-${st}`).textContent = String(store.list('time', [st]).length);
  const els = qs.map((q) => {
    const li = cards.get(q.id) ?? card(q.id);
    cards.set(q.id, li);
    update(li, q);
    return li;
  });
  for (const id of cards.keys()) if (!store.questions.has(id)) cards.delete(id);
  const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
  if (!same) {
    const focused = /** @type {HTMLElement|null} */ (document.activeElement);
    list.replaceChildren(...els);
    if (focused && list.contains(focused)) focused.focus();
  }
  $('qa-mod-empty').hidden = qs.length > 0;
  settings();
}

function settings() {
  const { open, premoderation, allow_anonymous } = store.settings;
  $('qa-open-toggle').setAttribute('aria-pressed', String(open));
  $('qa-open-state').textContent = open ? s.open : s.closed;
  $('qa-premod').checked = premoderation;
  $('qa-allow-anon').checked = allow_anonymous;
  const shown = store.onScreenId ? store.questions.get(store.onScreenId) : null;
  $('qa-screen-text').textContent = shown ? (shown.text ?? '') : s.nothing;
  $('qa-screen-clear').hidden = !shown;
}

list.addEventListener('click', (/** @type {MouseEvent} */ ev) => {
  const btn = /** @type {HTMLElement} */ (ev.target).closest('button[data-act]');
  if (!(btn instanceof HTMLElement)) return;
  const id = Number(btn.closest('li')?.dataset.qid);
  const q = store.questions.get(id);
  if (btn.dataset.act === 'approve') run('qa.approve', { question_id: id });
  if (btn.dataset.act === 'show') run('qa.show', { question_id: store.onScreenId === id ? null : id });
  if (btn.dataset.act === 'answered') run('qa.mark_answered', { question_id: id, answered: q?.state !== 'answered' });
});

list.addEventListener('submit', (/** @type {SubmitEvent} */ ev) => {
  ev.preventDefault();
  const formEl = /** @type {HTMLFormElement} */ (ev.target);
  const id = Number(formEl.closest('li')?.dataset.qid);
  const f = /** @type {any} */ (formEl.elements);
  const act = formEl.dataset.act;
  if (act === 'reject') run('qa.reject', { question_id: id, reason: f.reason.value });
  if (act === 'edit') { delete f.text.dataset.dirty; run('qa.edit', { question_id: id, text: f.text.value }); }
  if (act === 'merge' && f.into.value) run('qa.merge', { question_id: id, into_id: Number(f.into.value) });
  if (act === 'answer') run('qa.answer', { question_id: id, text: f.answer.value, answered_by: f.by.value || null });
});

list.addEventListener('input', (/** @type {Event} */ ev) => {
  const el = /** @type {HTMLElement} */ (ev.target);
  if (el.getAttribute('name') === 'text') el.dataset.dirty = '1';
});

$('qa-open-toggle').addEventListener('click', () => run('qa.configure', { open: !store.settings.open }));
$('qa-premod').addEventListener('change', (/** @type {any} */ ev) => run('qa.configure', { premoderation: ev.target.checked }));
$('qa-allow-anon').addEventListener('change', (/** @type {any} */ ev) => run('qa.configure', { allow_anonymous: ev.target.checked }));
$('qa-screen-clear').addEventListener('click', () => run('qa.show', { question_id: null }));
document.querySelectorAll('input[name="qa-filter"]').forEach((r) => r.addEventListener('change', render));
store.subscribe(render);
