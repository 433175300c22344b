// @ts-check
/** The one socket of a page, shared by every feature module on it (ES modules are singletons). */
import { connect } from './protocol.js';
import { bindConnectionState } from './ui.js';

const root = /** @type {HTMLElement} */ (document.querySelector('[data-event-slug]'));
export const slug = root?.dataset.eventSlug ?? '';
export const socket = connect(slug);
bindConnectionState(socket);
// Signed out elsewhere (another tab, an admin, a password change): show the page as it is now.
socket.on('session.ended', () => location.reload());

// Connect once every module of the page has run and registered its handlers: module scripts all
// run before DOMContentLoaded, so no feature can miss the first `connect` event.
const start = () => { if (!socket.connected && !socket.active) socket.connect(); };
if (document.readyState === 'complete') start();
else {
  document.addEventListener('DOMContentLoaded', start, { once: true });
  window.addEventListener('load', start, { once: true });
}
