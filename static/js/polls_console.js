// @ts-check
/** The console's polls: write one (a question, 2-8 answers), open and close it, watch results. */
import { request } from './protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';
import { results, strings, summary, withResults } from './polls_view.js';

/** @typedef {import('./polls_view.js').Poll} Poll */

const s = strings();
const form = /** @type {HTMLFormElement} */ (document.getElementById('poll-create'));
const question = /** @type {HTMLInputElement} */ (document.getElementById('poll-question'));
const options = /** @type {HTMLTextAreaElement} */ (document.getElementById('poll-options'));
const status = /** @type {HTMLElement} */ (document.getElementById('poll-create-status'));
const list = /** @type {HTMLElement} */ (document.getElementById('poll-list'));
const none = /** @type {HTMLElement} */ (document.getElementById('poll-none'));
/** @type {Map<number, Poll>} */
const polls = new Map();

/** @param {Poll} poll */
function item(poll) {
  const action = poll.status === 'open'
    ? { name: 'polls.close', label: s.close_button }
    : { name: 'polls.open', label: poll.status === 'draft' ? s.open_button : s.reopen_button };
  const button = h('button', { type: 'button', class: 'small' }, [action.label]);
  button.setAttribute('aria-label', `${action.label}: ${poll.question}`);
  button.addEventListener('click', () => {
    request(socket, action.name, { poll_id: poll.id }).then(
      (ack) => { remember(ack.poll); }, (err) => { status.textContent = err.message; });
  });
  const parts = [h('p', {}, [h('strong', {}, [poll.question])]), results(poll, s), summary(poll, s), button];
  if (poll.status !== 'draft') {
    const label = poll.on_screen ? s.screen_off : s.screen_on;
    const screen = h('button', { type: 'button', class: 'small secondary' }, [label]);
    screen.setAttribute('aria-label', `${label}: ${poll.question}`);
    screen.addEventListener('click', () => {
      request(socket, 'polls.screen', { poll_id: poll.id, shown: !poll.on_screen }).then(
        (ack) => { remember(ack.poll); }, (err) => { status.textContent = err.message; });
    });
    parts.push(' ', screen);
    if (poll.on_screen) parts.push(h('p', { class: 'help' }, [s.on_screen]));
  }
  return h('li', { 'data-poll-id': String(poll.id) }, parts);
}

function render() {
  const sorted = [...polls.values()].sort((a, b) => b.id - a.id);
  list.replaceChildren(...sorted.map(item));
  none.hidden = sorted.length > 0;
}

/** @param {Poll} poll */
function remember(poll) { polls.set(poll.id, poll); render(); }

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const ack = await request(socket, 'polls.create', {
      question: question.value, options: options.value.split('\n'),
    });
    remember(ack.poll);
    form.reset();
    status.textContent = s.created;
  } catch (err) {
    status.textContent = /** @type {Error} */ (err).message;
  }
});
socket.on('connect', () => {
  request(socket, 'polls.list').then((ack) => { polls.clear(); ack.polls.forEach(remember); render(); }, () => undefined);
});
socket.on('polls.state', remember);
socket.on('polls.results', (/** @type {{id: number, counts: number[], total: number}} */ update) => {
  const poll = polls.get(update.id);
  if (poll) remember(withResults(poll, update));
});
