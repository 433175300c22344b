// @ts-check
/** Small DOM helpers shared by the pages. Text goes in with textContent: never as HTML. */

/** @returns {Record<string, string>} */
export function strings() {
  const el = document.getElementById('i18n');
  return el ? JSON.parse(el.textContent ?? '{}') : {};
}

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

/** Show the connection state and the online count of a socket in the page's status pills. */
export function bindConnectionState(socket) {
  const s = strings();
  const state = document.getElementById('connection-state');
  const count = document.getElementById('online-count');
  const set = (text) => { if (state) state.textContent = text; };
  socket.on('connect', () => set(s.connected));
  socket.on('disconnect', () => set(s.disconnected));
  socket.on('connect_error', (err) => set(`${s.disconnected} (${err?.data?.message ?? err.message})`));
  socket.on('presence.count', (p) => { if (count) count.textContent = (s.online ?? '{count}').replace('{count}', String(p.count)); });
}

/** Announce a message to screen readers and sighted users in the status banner. */
export function announce(text) {
  const banner = document.getElementById('status-banner');
  if (!banner) return;
  banner.textContent = text;
  banner.hidden = !text;
}
