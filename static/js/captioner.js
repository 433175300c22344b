// @ts-check
/** The captioner's page: one line per Enter, sent as `captions.send`; the field stays focused. */
import { errorMessage } from './errors.js';
import { request, whenConnected } from './protocol.js';
import { socket } from './session.js';
import { KEEP_LINES } from './captions_protocol.js';

const form = /** @type {HTMLFormElement} */ (document.getElementById('caption-form'));
const input = /** @type {HTMLInputElement} */ (document.getElementById('caption-text'));
const status = /** @type {HTMLElement} */ (document.getElementById('caption-status'));
const sent = /** @type {HTMLElement} */ (document.getElementById('caption-sent'));

/** @param {string} text */
function addSent(text) {
  const item = document.createElement('li');
  item.textContent = text;
  sent.prepend(item);
  while (sent.children.length > KEEP_LINES) sent.lastElementChild?.remove();
}

// After a reload the captioner sees where they were.
whenConnected(socket, async () => {
  if (sent.children.length) return;
  const ack = await request(socket, 'captions.recent');
  ack.lines.forEach((/** @type {{text: string}} */ line) => addSent(line.text));
});

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const line = input.value.trim();
  if (!line) return;
  input.value = '';
  try {
    const ack = await request(socket, 'captions.send', { text: line });
    addSent(ack.line.text);
    status.textContent = '';
  } catch (err) {
    input.value = input.value || line;  // nothing typed since: give the line back to send again
    status.textContent = errorMessage(err);
  }
  input.focus();
});
input.focus();
