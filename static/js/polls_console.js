// @ts-check
/** The console's polls: write one (a question, 2-8 answers), open and close it, watch results. */
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import * as polls from './polls_protocol.js';
import { whenConnected } from './protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';
import { STRINGS, results, summary } from './polls_view.js';

/** @typedef {import('./polls_protocol.js').Poll} Poll */

const s = strings(STRINGS);
const form = /** @type {HTMLFormElement} */ (document.getElementById('poll-create'));
const question = /** @type {HTMLInputElement} */ (document.getElementById('poll-question'));
const options = /** @type {HTMLTextAreaElement} */ (document.getElementById('poll-options'));
const status = /** @type {HTMLElement} */ (document.getElementById('poll-create-status'));
const list = /** @type {HTMLElement} */ (document.getElementById('poll-list'));
const none = /** @type {HTMLElement} */ (document.getElementById('poll-none'));
/** @type {Map<number, Poll>} */
const known = new Map();

/**
 * A button that runs `command` on the poll and shows the poll it answers.
 * @param {string} label @param {string} aria @param {string} className @param {() => Promise<Poll>} command
 */
function commandButton(label, aria, className, command) {
  const button = h('button', { type: 'button', class: className, 'aria-label': aria }, [label]);
  button.addEventListener('click', () => {
    command().then(remember, (err) => { status.textContent = errorMessage(err); });
  });
  return button;
}

/** @param {Poll} poll */
function item(poll) {
  const label = poll.status === 'open' ? s.close_button : poll.status === 'draft' ? s.open_button : s.reopen_button;
  const toggle = poll.status === 'open' ? polls.close : polls.open;
  const button = commandButton(label, `${label}: ${poll.question}`, 'small', () => toggle(socket, poll.id));
  /** @type {(Node | string)[]} */
  const parts = [h('p', {}, [h('strong', {}, [poll.question])]), results(poll, s), summary(poll, s), button];
  if (poll.status !== 'draft') {
    const shown = poll.on_screen ? s.screen_off : s.screen_on;
    parts.push(' ', commandButton(shown, `${shown}: ${poll.question}`, 'small secondary',
      () => polls.screen(socket, poll.id, !poll.on_screen)));
    if (poll.on_screen) parts.push(h('p', { class: 'help' }, [s.on_screen]));
  }
  return h('li', { 'data-poll-id': String(poll.id) }, parts);
}

function render() {
  const sorted = [...known.values()].sort((a, b) => b.id - a.id);
  list.replaceChildren(...sorted.map(item));
  none.hidden = sorted.length > 0;
}

/** @param {Poll} poll */
function remember(poll) { known.set(poll.id, poll); render(); }

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    remember(await polls.create(socket, question.value, options.value.split('\n')));
    form.reset();
    status.textContent = s.created;
  } catch (err) {
    status.textContent = errorMessage(err);
  }
});
whenConnected(socket, async () => {
  const all = await polls.list(socket);
  known.clear();
  all.forEach(remember);
  render();
});
polls.onPoll(socket, remember);
polls.onResults(socket, (update) => {
  const poll = known.get(update.id);
  if (poll) remember(polls.withResults(poll, update));
});
