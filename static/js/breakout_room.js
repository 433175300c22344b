// @ts-check
/**
 * The breakout room page: enters the room (the server checks membership first), shows who is
 * here now with raised hands, the countdown and the moderators' broadcast, and goes back to the
 * main stage when the rooms close, or to the new room when a moderator moves this participant.
 *
 * Hooks for the other room features (media, notes), all on `document`:
 *   - dispatched `room:entered` {room, round, people, me} once the server let us in
 *     (again after every reconnect), and `room:left` {reason} before leaving the page;
 *   - listened `room:speaking` {key, speaking}: highlight a person (person keys are
 *     "participant:<id>" / "user:<id>", as in `room.participants`), see setSpeaking().
 */
import { whenConnected } from './protocol.js';
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { enterRoom, liveUrl, raiseHand, roomUrl, timeLeft } from './breakout_protocol.js';
import { announce, h } from './ui.js';
import { slug, socket } from './session.js';

const s = strings('breakout-i18n');
const root = /** @type {HTMLElement} */ (document.getElementById('room'));
const roomId = Number(root.dataset.roomId);
const list = /** @type {HTMLElement} */ (document.querySelector('#room-participants ul'));
const handButton = /** @type {HTMLButtonElement} */ (document.getElementById('room-hand'));
const timer = /** @type {HTMLElement} */ (document.getElementById('room-timer'));
let endsAt = root.dataset.endsAt || null;
let me = '';
let raised = false;
/** @type {Set<string>} */
const speaking = new Set();

/** @param {{key: string, name: string, role: string, region: string|null, hand: boolean}[]} people */
function renderPeople(people) {
  list.replaceChildren(...people.map((p) => {
    const label = `${p.name}${p.key === me ? ` (${s.you})` : ''}${p.region ? `, ${p.region}` : ''}`;
    const li = h('li', { 'data-person-key': p.key }, [label]);
    if (p.hand) li.append(' ', h('span', { class: 'hand' }, [`✋ ${s.hand}`]));
    li.classList.toggle('speaking', speaking.has(p.key));
    return li;
  }));
}

/** Highlight (or not) the active speaker; called by the room media module. */
export function setSpeaking(/** @type {string} */ key, /** @type {boolean} */ on) {
  if (on) speaking.add(key); else speaking.delete(key);
  list.querySelector(`[data-person-key="${CSS.escape(key)}"]`)?.classList.toggle('speaking', on);
}
document.addEventListener('room:speaking', (ev) => {
  const { key, speaking: on } = /** @type {CustomEvent} */ (ev).detail ?? {};
  if (typeof key === 'string') setSpeaking(key, Boolean(on));
});

function tick() {
  const left = timeLeft(endsAt);
  timer.textContent = left.over ? s.time_up : left.text;
}
setInterval(tick, 1000);
tick();

/** @param {string|null|undefined} text */
function showBroadcast(text) {
  const box = /** @type {HTMLElement} */ (document.getElementById('room-broadcast'));
  /** @type {HTMLElement} */ (document.getElementById('room-broadcast-text')).textContent = text ?? '';
  box.hidden = !text;
}

/** @param {string} url @param {string} reason @param {string} message */
function leaveFor(url, reason, message) {
  announce(message);
  document.dispatchEvent(new CustomEvent('room:left', { detail: { reason } }));
  location.assign(url);
}

/** Enter the room on every (re)connect, including one that happened before this module ran. */
async function onConnect() {
  try {
    const answer = await enterRoom(socket, roomId);
    me = answer.me;
    endsAt = answer.round?.ends_at ?? null;
    showBroadcast(answer.round?.broadcast);
    /** @type {HTMLElement} */ (document.getElementById('room-closed')).hidden = answer.round?.status === 'open';
    renderPeople(answer.people);
    tick();
    document.dispatchEvent(new CustomEvent('room:entered', { detail: answer }));
  } catch (err) {
    announce(errorMessage(err));
  }
}
whenConnected(socket, onConnect);
socket.on('room.participants', ({ room_id, people }) => { if (room_id === roomId) renderPeople(people); });
socket.on('breakout.timer', ({ round }) => { endsAt = round.ends_at; tick(); });
socket.on('breakout.broadcast', ({ text }) => showBroadcast(text));
socket.on('breakout.closed', () => leaveFor(liveUrl(slug), 'closed', s.closing));
socket.on('breakout.assigned', ({ room }) => {
  if (root.dataset.staff === 'true') return;
  if (!room) leaveFor(liveUrl(slug), 'unassigned', s.closed);
  else if (room.id !== roomId) leaveFor(roomUrl(slug, room.id), 'moved', (s.moved ?? '').replace('{name}', room.name));
});

handButton.addEventListener('click', async () => {
  try {
    await raiseHand(socket, roomId, !raised);
    raised = !raised;
    handButton.setAttribute('aria-pressed', String(raised));
    handButton.textContent = raised ? s.lower : s.raise;
  } catch (err) { announce(errorMessage(err)); }
});
