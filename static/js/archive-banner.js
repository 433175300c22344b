// @ts-check
/** The "this stage is being recorded" banner on every live page of an event. */
import { socket } from './session.js';
import { getState, onState } from './archive-protocol.js';

const i18n = JSON.parse(document.getElementById('recording-i18n')?.textContent ?? '{}');
const banner = /** @type {HTMLElement|null} */ (document.getElementById('status-banner'));

/** @param {import('./archive-protocol.js').RecordingState} state */
export function showBanner(state) {
  if (!banner) return;
  banner.classList.toggle('recording', state.recording);
  banner.hidden = !state.recording;
  banner.textContent = state.recording ? (state.paused ? i18n.paused : i18n.banner) : '';
}

onState(socket, showBanner);
socket.on('connect', () => { getState(socket).then(showBanner, () => {}); });
