// @ts-check
/** The chat of a breakout room: history when entering, live messages, sending. Text only. */
import { errorMessage } from './errors.js';
import { history, send } from './chat_protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';

const root = /** @type {HTMLElement} */ (document.getElementById('room'));
const roomId = Number(root.dataset.roomId);
const log = /** @type {HTMLElement} */ (document.getElementById('room-chat-log'));
const form = /** @type {HTMLFormElement} */ (document.getElementById('room-chat-form'));
const input = /** @type {HTMLTextAreaElement} */ (document.getElementById('room-chat-text'));
const status = /** @type {HTMLElement} */ (document.getElementById('room-chat-status'));
/** @type {Set<number>} */
const seen = new Set();

/** @param {import('./chat_protocol.js').Message} m */
function add(m) {
  if (seen.has(m.id)) return;
  seen.add(m.id);
  const time = new Date(m.at).toLocaleTimeString(document.documentElement.lang || 'sv', { hour: '2-digit', minute: '2-digit' });
  log.append(h('li', { 'data-message-id': String(m.id) }, [
    h('span', { class: 'author' }, [m.author]), h('span', { class: 'text' }, [m.text]), ' ',
    h('time', { datetime: m.at, class: 'help' }, [time]),
  ]));
  log.scrollTop = log.scrollHeight;
}

// The history is read once the room has let us in (breakout_room.js dispatches room:entered).
document.addEventListener('room:entered', async () => {
  try {
    const { messages } = await history(socket, roomId);
    messages.forEach(add);
  } catch (err) { status.textContent = errorMessage(err); }
});
socket.on('chat.message', (m) => { if (m.room_id === roomId) add(m); });

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  try {
    const { message } = await send(socket, roomId, text);
    add(message);
    input.value = '';
    status.textContent = '';
  } catch (err) { status.textContent = errorMessage(err); }
});
input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
});
