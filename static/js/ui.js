// @ts-check
/** Small DOM helpers shared by the pages. Text goes in with textContent: never as HTML. */
import { errorMessage } from './errors.js';
import { fill, strings } from './i18n.js';

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node|string)[]} [children]
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/**
 * Show the connection state and the online count of a socket in the page's status pills.
 * @param {import('./protocol.js').Socket} socket
 */
export function bindConnectionState(socket) {
  const s = strings();
  const state = document.getElementById('connection-state');
  const count = document.getElementById('online-count');
  const set = (/** @type {string} */ text) => { if (state) state.textContent = text; };
  socket.on('connect', () => set(s.connected));
  socket.on('disconnect', () => set(s.disconnected));
  // A refusal of the handshake carries the server's error as `data`.
  socket.on('connect_error', (/** @type {Error & {data?: unknown}} */ err) =>
    set(`${s.disconnected} (${errorMessage(err.data ?? err)})`));
  socket.on('presence.count', (/** @type {{count: number}} */ p) => {
    if (count) count.textContent = fill(s.online ?? '{count}', { count: p.count });
  });
}

/**
 * Announce a message to screen readers and sighted users in the status banner.
 * @param {string} text
 */
export function announce(text) {
  const banner = document.getElementById('status-banner');
  if (!banner) return;
  banner.textContent = text;
  banner.hidden = !text;
}
