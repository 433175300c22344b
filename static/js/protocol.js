// @ts-check
/** Socket.IO connection for one event: token handshake, ack-based requests, typed errors. */
import { io } from '/static/vendor/socket.io.esm.min.js';

/** @typedef {import('/static/vendor/socket.io.esm.min.js').Socket} Socket */
/**
 * What the server says went wrong, in an ack `{ok: false, error}`, an `error` event or an HTTP
 * body `{error}` (docs/protocol/*.md).
 * @typedef {{code: string, message?: string | undefined, key?: string | undefined,
 *   details?: Record<string, unknown> | undefined, event?: string | undefined}} WireError
 */

/** A refusal from the server, with its stable dotted `code`; errors.js makes it readable. */
export class ServerError extends Error {
  /** @param {Partial<WireError>} error */
  constructor(error) {
    super(error.message ?? 'error');
    this.code = error.code;
    this.key = error.key;
    this.details = error.details;
  }
}

/** @returns {string} the CSRF token the page carries */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
}

/**
 * Ask the server for a handshake token bound to this session and event.
 * @param {string} slug
 * @returns {Promise<{token: string, event_id: number}>}
 */
export async function fetchToken(slug) {
  const res = await fetch(`/api/events/${encodeURIComponent(slug)}/socket-token`, {
    method: 'POST', headers: { 'X-CSRF-Token': csrfToken() }, credentials: 'same-origin',
  });
  if (!res.ok) throw new Error(`token: ${res.status}`);
  return res.json();
}

/**
 * A socket for the event, not yet connected (see session.js). The token is fetched again on
 * every reconnect attempt.
 * @param {string} slug
 */
export function connect(slug) {
  const socket = io({
    autoConnect: false,
    transports: ['websocket', 'polling'],
    auth: (cb) => { fetchToken(slug).then((t) => cb({ token: t.token }), () => cb({})); },
  });
  return socket;
}

/**
 * Emit with an acknowledgement; resolves to the ack, rejects with the server's error.
 * @param {Socket} socket
 * @param {string} name
 * @param {unknown} [payload]
 * @returns {Promise<any>}
 */
export function request(socket, name, payload) {
  return new Promise((resolve, reject) => {
    socket.timeout(10000).emit(name, payload ?? {}, (/** @type {any} */ err, /** @type {any} */ ack) => {
      if (err) reject(new Error('timeout'));
      else if (ack && ack.ok) resolve(ack);
      else reject(new ServerError(ack?.error ?? {}));
    });
  });
}

/**
 * Is the socket still there? A page whose media stopped (the network changed under it, a node
 * went away) asks before it builds anything anew: a socket on a network that no longer exists
 * looks connected until Engine.IO's heartbeat gives up, up to 45 s later. Unanswered within
 * `ms`, the socket is closed and reconnects at once (every `whenConnected` load runs again).
 * @param {Socket} socket
 * @param {number} [ms]
 * @returns {Promise<boolean>} true when the server answered
 */
export function socketAlive(socket, ms = 1500) {
  if (!socket.connected) return Promise.resolve(false);  // reconnecting already
  return new Promise((resolve) => {
    socket.timeout(ms).emit('session.ping', {}, (/** @type {any} */ err) => {
      if (err && socket.connected) socket.disconnect().connect();  // a new transport now
      resolve(!err);
    });
  });
}

/**
 * Run `load` on every connect, and now if the socket is up already. The server forgets a
 * socket's rooms when it drops and what was broadcast meanwhile is lost, so a feature fetches
 * its state afresh each time. A failed load waits for the next connect unless `onError` is given.
 * @param {Socket} socket
 * @param {() => unknown} load
 * @param {(error: unknown) => void} [onError]
 */
export function whenConnected(socket, load, onError = () => undefined) {
  const run = () => { Promise.resolve().then(load).catch(onError); };
  socket.on('connect', run);
  if (socket.connected) run();
}
