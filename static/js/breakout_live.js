// @ts-check
/**
 * The participant's live page: shows the breakout room and goes there by itself when the
 * round opens (or when the page reconnects during an open round, e.g. after a restart).
 * `?stay=1` (the room page's "back to the main stage" link) keeps the participant here.
 */
import { whenConnected } from './protocol.js';
import { strings } from './i18n.js';
import { liveUrl, roomUrl, state } from './breakout_protocol.js';
import { slug, socket } from './session.js';

const s = strings('breakout-i18n');
const panel = document.getElementById('breakout-live');
const text = document.getElementById('breakout-live-text');
const link = /** @type {HTMLAnchorElement|null} */ (document.getElementById('breakout-live-link'));
const stay = new URLSearchParams(location.search).has('stay');

/** @param {any} room @param {boolean} go */
function show(room, go) {
  if (!panel || !text || !link) return;
  panel.hidden = false;
  if (!room) { text.textContent = s.not_placed; link.hidden = true; return; }
  text.textContent = (s.you_are_in ?? '{name}').replace('{name}', room.name);
  link.href = roomUrl(slug, room.id);
  link.hidden = false;
  if (go) location.assign(link.href);
}

function hide() { if (panel) panel.hidden = true; }

whenConnected(socket, async () => {
  const answer = await state(socket).catch(() => null);
  if (!answer?.round || answer.round.status !== 'open') { hide(); return; }
  if (answer.room || !answer.rooms) show(answer.room, !stay);
});
socket.on('breakout.assigned', ({ room }) => show(room, Boolean(room)));
socket.on('breakout.closed', () => {
  hide();
  if (stay) history.replaceState(null, '', liveUrl(slug));
});
