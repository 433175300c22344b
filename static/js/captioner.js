// @ts-check
/** The captioner's page: one line per Enter, sent as `captions.send`; the field stays focused. */
import { request } from './protocol.js';
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
socket.on('connect', () => {
  if (sent.children.length) return;
  request(socket, 'captions.recent').then(
    (ack) => ack.lines.forEach((/** @type {{text: string}} */ line) => addSent(line.text)), () => undefined);
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
    status.textContent = /** @type {Error} */ (err).message;
  }
  input.focus();
});
input.focus();
