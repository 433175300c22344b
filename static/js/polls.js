// @ts-check
/**
 * The live page's poll: the open one to answer (radio buttons, one vote, changeable while it is
 * open), then its results as they come in; after it closes, its final results. Staff see the
 * results and do not vote (the server refuses them anyway).
 */
import { errorMessage } from './errors.js';
import { fill, strings } from './i18n.js';
import * as polls from './polls_protocol.js';
import { whenConnected } from './protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';
import { STRINGS, results, summary } from './polls_view.js';

/** @typedef {import('./polls_protocol.js').Poll} Poll */

const s = strings(STRINGS);
const panel = /** @type {HTMLElement} */ (document.getElementById('polls-panel'));
const box = /** @type {HTMLElement} */ (document.getElementById('polls-current'));
const status = /** @type {HTMLElement} */ (document.getElementById('polls-status'));
const canVote = panel.dataset.canVote === 'true';
/** @type {Poll | null} */
let current = null;
let changing = false;

/** @param {Poll} poll */
function form(poll) {
  const name = `poll-${poll.id}`;
  const choices = poll.options.map((option, i) => h('div', {}, [
    Object.assign(h('input', { type: 'radio', name, id: `${name}-${i}`, value: String(i) }),
      { checked: poll.mine === i }),
    h('label', { for: `${name}-${i}` }, [option]),
  ]));
  const el = h('form', { class: 'poll-form', id: `${name}-form` }, [
    h('fieldset', {}, [h('legend', {}, [poll.question]), ...choices]),
    h('button', { type: 'submit' }, [s.vote]),
  ]);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const picked = /** @type {HTMLInputElement | null} */ (el.querySelector('input:checked'));
    if (!picked) { status.textContent = s.pick_one; return; }
    try {
      const voted = await polls.vote(socket, poll.id, Number(picked.value));
      changing = false;
      show(voted);
      status.textContent = s.thanks;
    } catch (err) {
      status.textContent = errorMessage(err);
    }
  });
  return el;
}

/** @param {Poll | null} poll */
function show(poll) {
  current = poll;
  panel.hidden = !poll;
  if (!poll) { box.replaceChildren(); return; }
  const voting = canVote && poll.status === 'open' && (poll.mine == null || changing);
  if (voting) { box.replaceChildren(form(poll)); return; }
  const parts = [h('p', { class: 'poll-question' }, [h('strong', {}, [poll.question])]), results(poll, s), summary(poll, s)];
  if (poll.mine != null) parts.push(h('p', {}, [fill(s.your_answer, { option: poll.options[poll.mine] })]));
  if (!canVote) parts.push(h('p', { class: 'help' }, [s.staff_sees]));
  if (canVote && poll.status === 'open') {
    const change = h('button', { type: 'button', class: 'secondary small' }, [s.change]);
    change.addEventListener('click', () => {
      changing = true;
      show(/** @type {Poll} */ (current));
      /** @type {HTMLElement | null} */ (box.querySelector('input'))?.focus();
    });
    parts.push(change);
  }
  box.replaceChildren(...parts);
}

/** The poll to show: the open one, else the latest closed one. @param {Poll[]} all */
const pick = (all) => all.find((p) => p.status === 'open') ?? all.find((p) => p.status === 'closed') ?? null;

whenConnected(socket, async () => show(pick(await polls.list(socket))));
polls.onPoll(socket, (poll) => {
  if (poll.status === 'draft') return;
  if (poll.status === 'open' || !current || current.id === poll.id) {
    const mine = current && current.id === poll.id ? current.mine : null;
    // A poll that opens is announced (the status is a polite live region), not only shown.
    if (poll.status === 'open' && current?.id !== poll.id) status.textContent = fill(s.new, { question: poll.question });
    show({ ...poll, mine: poll.mine ?? mine ?? null });
  }
});
polls.onResults(socket, (update) => {
  if (current && current.id === update.id && !(canVote && current.status === 'open' && (current.mine == null || changing))) {
    show(polls.withResults(current, update));
  } else if (current && current.id === update.id) {
    current = polls.withResults(current, update);
  }
});
