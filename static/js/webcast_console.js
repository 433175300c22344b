// @ts-check
/** The moderator console's webcast panel: live state, viewers, and the WHIP token for OBS. */
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { request, whenConnected } from './protocol.js';
import { socket } from './session.js';
import { announce } from './ui.js';

const panel = document.getElementById('webcast-console');
const text = strings('webcast-console-i18n');

/** @param {string} id @param {string} value */
function show(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

/** @param {{live: boolean | null, viewer_count: number | null}} state */
function applyState(state) {
  if (state.live === null) return;
  show('stage-live', state.live ? text.live : text.offline);
  panel?.classList.toggle('is-live', state.live);
  if (state.viewer_count !== null) show('stage-viewers', text.viewers.replace('{count}', String(state.viewer_count)));
}

/** @param {{rotated_at: string | null, rotated_by: string} | null} info */
function applyToken(info) {
  const when = info?.rotated_at ? new Date(info.rotated_at).toLocaleString('sv-SE') : '';
  show('token-info', when ? text.token_set.replace('{when}', when).replace('{who}', info?.rotated_by ?? '') : text.token_none);
  show('rotate-token', when ? text.rotate : text.create);
}

async function refresh() {
  const ack = await request(socket, 'webcast.get');
  applyState(ack);
  applyToken(ack.token);
}

async function rotate() {
  try {
    const ack = await request(socket, 'webcast.rotate_token');
    const input = /** @type {HTMLInputElement} */ (document.getElementById('whip-token'));
    input.value = ack.token;
    /** @type {HTMLElement} */ (document.getElementById('token-once')).hidden = false;
    applyToken(ack);
    input.focus();
    input.select();
    announce(text.rotated);
  } catch (err) { announce(errorMessage(err)); }
}

if (panel) {
  document.getElementById('rotate-token')?.addEventListener('click', rotate);
  whenConnected(socket, refresh, (err) => announce(errorMessage(err)));
  socket.on('webcast.state', applyState);
  socket.on('webcast.token_rotated', applyToken);
}
