// @ts-check
/**
 * The "this stage is being recorded" banner on every page of an event (templates/base.html
 * loads it wherever an event is shown). Pages with the event's socket (an element with
 * `data-event-slug`, see session.js) follow `recording.state` live; others keep the banner the
 * server rendered and open no socket of their own.
 */
import { whenConnected } from './protocol.js';
import { strings } from './i18n.js';
import { getState, onState } from './recording_protocol.js';

const i18n = strings('recording-i18n');
const banner = /** @type {HTMLElement|null} */ (document.getElementById('status-banner'));

/** @param {import('./recording_protocol.js').RecordingState} state */
export function showBanner(state) {
  if (!banner) return;
  banner.classList.toggle('recording', state.recording);
  banner.hidden = !state.recording;
  banner.textContent = state.recording ? (state.paused ? i18n.paused : i18n.banner) : '';
}

if (banner && document.querySelector('[data-event-slug]')) {
  // The page's one shared socket (session.js connects it once every module has run).
  import('./session.js').then(({ socket }) => {
    onState(socket, showBanner);
    whenConnected(socket, async () => showBanner(await getState(socket)));
  });
}
