// @ts-check
/**
 * The shared notes of one breakout room over socket.io: y-protocols sync and awareness as
 * binary `notes.sync` events (see docs/protocol/notes.md). No DOM here; notes.js is the editor.
 *
 * The document holds a map "themes" of theme key -> Y.Text, created by the server only: this
 * module never creates a section, it waits for sync step 2 and looks them up.
 *
 * Offline edits: while the socket is down, local updates are not sent (socket.io would buffer
 * them for a connection that no longer exists); on reconnect we join again and the two sync
 * steps exchange whatever either side lacks.
 */
import { Y, syncProtocol, awarenessProtocol, encoding, decoding } from '/static/vendor/yjs.mjs';
import { request } from './protocol.js';

const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
/** Transaction origin of what came from the server; never sent back. */
export const REMOTE = 'remote';

/**
 * @typedef {{key: string, title: string, title_en: string, description: string}} Theme
 * @typedef {{room_id: number, name: string, themes: Theme[], writable: boolean, user: string}} JoinInfo
 * @typedef {{readOnly?: boolean, onJoin?: (info: JoinInfo) => void, onSynced?: () => void,
 *   onOffline?: () => void, onError?: (error: WireError) => void}} Options
 * @typedef {import('./protocol.js').WireError} WireError
 */

export class NotesLink {
  /**
   * @param {import('./protocol.js').Socket} socket the page's socket.io socket
   * @param {number} roomId
   * @param {Options} [options]
   */
  constructor (socket, roomId, options = {}) {
    this.socket = socket;
    this.roomId = roomId;
    this.options = options;
    this.doc = new Y.Doc();
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    /** @type {JoinInfo | null} */
    this.info = null;
    this.joined = false;
    this.synced = false;
    if (options.readOnly) this.awareness.setLocalState(null);
    this.doc.on('update', (/** @type {Uint8Array} */ update, /** @type {any} */ origin) => {
      if (origin !== REMOTE) this.send(syncMessage((e) => syncProtocol.writeUpdate(e, update)));
    });
    this.awareness.on('update', (/** @type {any} */ change, /** @type {any} */ origin) => {
      if (origin !== REMOTE) this.sendAwareness(change.added.concat(change.updated, change.removed));
    });
    this.onSync = (/** @type {any} */ payload) => {
      if (payload?.room_id !== this.roomId) return;
      // One message, or a batch of a room's messages sent together (docs/protocol/notes.md).
      for (const one of Array.isArray(payload.data) ? payload.data : [payload.data]) this.receive(fromBase64(one));
    };
    this.onError = (/** @type {any} */ error) => {
      if (String(error?.event ?? '').startsWith('notes.')) this.options.onError?.(error);
    };
    this.onConnect = () => { this.join(); };
    this.onDisconnect = () => { this.joined = false; this.options.onOffline?.(); };
    socket.on('notes.sync', this.onSync);
    socket.on('error', this.onError);
    socket.on('connect', this.onConnect);
    socket.on('disconnect', this.onDisconnect);
    if (socket.connected) this.join();
  }

  /** Join (again, after a reconnect): the server checks membership and greets us. */
  async join () {
    try {
      this.info = await request(this.socket, 'notes.join', { room_id: this.roomId });
    } catch (error) {
      const { code, message, details } = /** @type {Partial<WireError>} */ (error);
      this.options.onError?.({ code: code ?? 'notes.join', message: String(message), details });
      return;
    }
    this.joined = true;
    this.options.onJoin?.(/** @type {JoinInfo} */ (this.info));
    this.emit(syncMessage((e) => syncProtocol.writeSyncStep1(e, this.doc)));
    // Announce ourselves with a clock above the removal the server sent the others when our
    // previous connection dropped (we were offline and never saw it, so could not outbid it).
    const me = this.awareness.getLocalState();
    if (me && !this.readOnly) {
      this.awareness.setLocalState(null);
      this.awareness.setLocalState(me);
    }
  }

  get readOnly () { return Boolean(this.options.readOnly || (this.info && !this.info.writable)); }

  /**
   * The text of one theme, or null before the server's sections have arrived.
   * @param {string} key
   * @returns {any}
   */
  section (key) {
    const text = this.doc.getMap('themes').get(key);
    return text instanceof Y.Text ? text : null;
  }

  /** @param {Uint8Array} message */
  receive (message) {
    const decoder = decoding.createDecoder(message);
    const kind = decoding.readVarUint(decoder);
    if (kind === MESSAGE_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), REMOTE);
      return;
    }
    if (kind !== MESSAGE_SYNC) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    const sub = syncProtocol.readSyncMessage(decoder, encoder, this.doc, REMOTE);
    // A reader must not answer the server's step 1: it may not write, not even "nothing new".
    if (encoding.length(encoder) > 1 && !this.readOnly) this.emit(encoding.toUint8Array(encoder));
    if (sub === syncProtocol.messageYjsSyncStep2 && !this.synced) {
      this.synced = true;
      this.options.onSynced?.();
    }
  }

  /** @param {Uint8Array} message */
  send (message) {
    if (this.joined && !this.readOnly && this.socket.connected) this.emit(message);
  }

  /** @param {number[]} clients */
  sendAwareness (clients) {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients));
    this.send(encoding.toUint8Array(encoder));
  }

  /** @param {Uint8Array} data */
  emit (data) { this.socket.emit('notes.sync', { room_id: this.roomId, data: toBase64(data) }); }

  /** Leave the room and stop listening. */
  close () {
    this.awareness.setLocalState(null);
    if (this.socket.connected) this.socket.emit('notes.leave', { room_id: this.roomId });
    this.socket.off('notes.sync', this.onSync);
    this.socket.off('error', this.onError);
    this.socket.off('connect', this.onConnect);
    this.socket.off('disconnect', this.onDisconnect);
    this.awareness.destroy();
  }
}

/**
 * @param {(encoder: any) => void} write
 * @returns {Uint8Array}
 */
function syncMessage (write) {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

/**
 * The smallest edit turning `before` into `after`, in UTF-16 units, never splitting a surrogate
 * pair (a lone half cannot travel as UTF-8 and would arrive as U+FFFD on the server).
 * @param {string} before
 * @param {string} after
 * @returns {{index: number, remove: number, insert: string}}
 */
export function diff (before, after) {
  let start = 0;
  const shortest = Math.min(before.length, after.length);
  while (start < shortest && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start &&
         before.charCodeAt(endBefore - 1) === after.charCodeAt(endAfter - 1)) { endBefore--; endAfter--; }
  if (endBefore < before.length && isLow(before.charCodeAt(endBefore))) { endBefore++; endAfter++; }
  return { index: start, remove: endBefore - start, insert: after.slice(start, endAfter) };
}

/**
 * Where a position moves when a remote change (a Yjs delta) lands before or around it.
 * @param {number} index
 * @param {Array<{retain?: number, insert?: string, delete?: number}>} delta
 */
export function mapIndex (index, delta) {
  let at = 0;
  for (const op of delta) {
    if (at > index) break;
    if (op.retain) at += op.retain;
    else if (typeof op.insert === 'string') { if (at < index) index += op.insert.length; at += op.insert.length; }
    else if (op.delete) index = at < index ? Math.max(at, index - op.delete) : index;
  }
  return index;
}

/** @param {number} c */
const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
/** @param {number} c */
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

/**
 * y-protocols messages travel as base64 text (see server/sockets/notes.py for why).
 * @param {Uint8Array} bytes
 */
export function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** @param {string} text */
export function fromBase64(text) {
  const raw = atob(String(text));
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
