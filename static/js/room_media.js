// @ts-check
/**
 * The audio and video of a breakout room (UI). Starts when the room page has entered the room
 * (`room:entered`), hangs up on `room:left` or when the server closes the room's media.
 * The server forwards each person's VP8 and Opus to the others without decoding; mute and
 * camera-off switch the local track off (track.enabled) and tell the others with `room_media.state`.
 * The active speaker (`room_media.speaker`) is highlighted here and in the participant list
 * (`room:speaking` for breakout_room.js).
 * A connection that stops receiving anything for 2 s (the network changed under the laptop, the
 * node hosting the room went away) is rebuilt at once, not when ICE gives up half a minute
 * later: the server cannot restart ICE on its side, so a new connection from the current
 * network replaces the old one (the server knows it by its new ICE credentials); a socket that
 * no longer answers is reconnected first (protocol.socketAlive). One that fails to come up backs off from 1 s to 30 s; one the server no longer
 * knows after a reconnect (the node restarted, another node hosts the room now) is rebuilt too.
 */
import { iceServers, route } from './ice.js';
import { errorMessage } from './errors.js';
import { socketAlive } from './protocol.js';
import { strings } from './i18n.js';
import {
  addSlots, joinMedia, leaveMedia, negotiate, preferVp8, sendState,
} from './room_media_protocol.js';
import { h } from './ui.js';
import { socket } from './session.js';

/** @typedef {import('./room_media_protocol.js').Slot} Slot */
/** @typedef {import('./room_media_protocol.js').MediaPeer} MediaPeer */

const s = strings('room-media-i18n');
const room = /** @type {HTMLElement|null} */ (document.getElementById('room'));
const roomId = Number(room?.dataset.roomId);
const tiles = /** @type {HTMLElement} */ (document.getElementById('media-tiles'));
const status = /** @type {HTMLElement} */ (document.getElementById('media-status'));
const micButton = /** @type {HTMLButtonElement} */ (document.getElementById('media-mic'));
const camButton = /** @type {HTMLButtonElement} */ (document.getElementById('media-camera'));

/** @type {RTCPeerConnection|null} */
let pc = null;
/** @type {MediaStream|null} */
let local = null;
let me = '';
/** @type {Slot[]} */
let slots = [];
/** @type {MediaPeer[]} */
let peers = [];
let speaker = /** @type {string|null} */ (null);
let queue = Promise.resolve();
const enabled = { audio: true, video: true };
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30000;
/** How long a connection that should carry something (our own media's receiver reports, others'
 * media) may receive nothing at all before it is rebuilt. The server's RTCP alone arrives at
 * least every 1.5 s; Chromium itself says `disconnected` only after 5 s or more. */
const STALL_MS = 2000;
const WATCH_EVERY_MS = 250;
let lastReceived = -1;
let built = 0;  // connections built on this page (stats(): a quiet room must not rebuild)
let quietSince = 0;
let inRoomMedia = false;  // in the room, and its media not closed by the server
let retryMs = RETRY_FIRST_MS;
/** @type {ReturnType<typeof setTimeout> | null} */
let retryTimer = null;

/** @param {string} text */
function say(text) { status.textContent = text; }

/** Run signalling steps one after the other (one offer at a time). @param {() => Promise<void>} step */
function serially(step) {
  queue = queue.then(step).catch((err) => say(`${s.failed} ${errorMessage(err)}`));
  return queue;
}

async function camera() {
  for (const constraints of [{ audio: true, video: true }, { audio: true }]) {
    try { return await navigator.mediaDevices.getUserMedia(constraints); } catch { /* try less */ }
  }
  return null;
}

/** @param {RTCIceServer[]} servers */
function newConnection(servers) {
  const conn = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: servers });
  for (const track of local?.getTracks() ?? []) {
    const t = conn.addTransceiver(track, { direction: 'sendonly', streams: [] });
    if (track.kind === 'video') preferVp8(t);
  }
  conn.addEventListener('track', () => attachStreams());
  conn.addEventListener('connectionstatechange', () => {
    if (conn !== pc) return;
    if (conn.connectionState === 'connected') { retryMs = RETRY_FIRST_MS; say(s.connected); }
    if (conn.connectionState === 'failed') recover();
  });
  return conn;
}

/** Build a new connection after a pause that doubles on every failure (up to 30 s).
 * @param {number} delayMs */
function recover(delayMs = retryMs) {
  if (!inRoomMedia || retryTimer) return;
  say(s.reconnecting);
  retryTimer = setTimeout(async () => {
    retryTimer = null;
    pc?.close();
    pc = null;
    // A dead socket reconnects instead; entering the room again on connect starts the media.
    if (!(await socketAlive(socket, 1000))) return;
    start().catch(() => { retryMs = Math.min(retryMs * 2, RETRY_MAX_MS); recover(); });
  }, delayMs);
}

async function start() {
  if (!room || room.dataset.roomMedia !== 'true') return;
  inRoomMedia = true;
  const joined = await joinMedia(socket, roomId);
  me = joined.me;
  peers = joined.participants;
  // The host knows a connection that still publishes; one it has forgotten is rebuilt.
  const known = !local || peers.some((p) => p.key === me && p.publishing);
  if (pc && known && pc.connectionState !== 'failed' && pc.connectionState !== 'closed') return render();
  pc?.close();
  local ??= await camera();
  if (!local) say(s.no_camera);
  pc = newConnection(await iceServers());
  built += 1;
  addSlots(pc, remotePublishers());
  await serially(async () => { slots = await negotiate(socket, roomId, /** @type {RTCPeerConnection} */ (pc)); });
  await sendState(socket, roomId, enabled.audio && hasTrack('audio'), enabled.video && hasTrack('video'));
  attachStreams();
}

/** Bytes this page has received on the connection: media, RTCP and STUN alike. @param {RTCPeerConnection} conn */
async function receivedBytes(conn) {
  let bytes = 0;
  (await conn.getStats()).forEach((/** @type {any} */ r) => { if (r.type === 'transport') bytes += r.bytesReceived ?? 0; });
  return bytes;
}

/** Rebuild a connected connection that has received nothing for STALL_MS while it should:
 * the server sends receiver reports for what we publish, and others' media in our slots. */
async function watchStall() {
  const conn = pc;
  const expecting = Boolean(local?.getTracks().length) || slots.some((x) => x.publisher);
  if (!conn || retryTimer || !expecting || !['connected', 'disconnected'].includes(conn.connectionState)) {
    quietSince = 0;
    return;
  }
  const bytes = await receivedBytes(conn);
  const now = performance.now();
  if (bytes !== lastReceived || !quietSince) { lastReceived = bytes; quietSince = now; return; }
  if (now - quietSince >= STALL_MS && conn === pc) { quietSince = 0; recover(0); }
}
setInterval(() => { watchStall().catch(() => {}); }, WATCH_EVERY_MS);

/** @param {'audio'|'video'} kind */
const hasTrack = (kind) => Boolean(local?.getTracks().some((t) => t.kind === kind));
const remotePublishers = () => peers.filter((p) => p.key !== me && p.publishing).length;
const slotPairs = () => slots.filter((x) => x.kind === 'video').length;

/** More people publish than we have slots for: add slots and offer again. */
function ensureSlots() {
  if (!pc) return;
  const missing = remotePublishers() - slotPairs();
  if (missing <= 0) return;
  serially(async () => {
    if (!pc || remotePublishers() - slotPairs() <= 0) return;
    addSlots(pc, remotePublishers() - slotPairs());
    slots = await negotiate(socket, roomId, pc);
    attachStreams();
  });
}

/** @type {Map<string, MediaStream>} */
const streams = new Map();

/** Put each slot's remote track into the stream of the person it carries. */
function attachStreams() {
  if (!pc) return;
  const wanted = new Map();
  for (const slot of slots) {
    const t = pc.getTransceivers().find((x) => x.mid === slot.mid);
    if (slot.publisher && t) wanted.set(t.receiver.track, slot.publisher);
  }
  for (const [key, stream] of streams) {
    for (const track of stream.getTracks()) if (wanted.get(track) !== key) stream.removeTrack(track);
  }
  for (const [track, key] of wanted) {
    if (!streams.has(key)) streams.set(key, new MediaStream());
    const stream = /** @type {MediaStream} */ (streams.get(key));
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
  }
  render();
}

/** @type {Map<string, HTMLElement>} */
const shown = new Map();

/** The tile of one person, created once and updated in place (a playing video keeps playing). @param {MediaPeer} peer */
function tile(peer) {
  const self = peer.key === me;
  let figure = shown.get(peer.key);
  if (!figure) {
    const element = /** @type {HTMLVideoElement} */ (h('video', { autoplay: '', playsinline: '' }));
    element.muted = self;
    figure = h('figure', { class: 'media-tile', 'data-person-key': peer.key }, [element, h('figcaption')]);
    shown.set(peer.key, figure);
  }
  const video = /** @type {HTMLVideoElement} */ (figure.querySelector('video'));
  const source = self ? local : streams.get(peer.key) ?? null;
  if (video.srcObject !== source) video.srcObject = source;
  const flags = [];
  if (!peer.audio) flags.push(s.mic_off);
  if (!peer.video) flags.push(s.camera_off);
  /** @type {HTMLElement} */ (figure.querySelector('figcaption')).textContent =
    `${peer.name}${self ? ` (${s.you})` : ''}${flags.length ? ` – ${flags.join(', ')}` : ''}`;
  figure.classList.toggle('speaking', peer.key === speaker);
  return figure;
}

/** Redraw the tiles: yourself first, then the others in joining order. */
function render() {
  const order = [...peers].sort((a, b) => Number(b.key === me) - Number(a.key === me));
  for (const key of [...shown.keys()]) if (!peers.some((p) => p.key === key)) shown.delete(key);
  tiles.replaceChildren(...order.map(tile));
}

/** @param {'audio'|'video'} kind @param {HTMLButtonElement} button */
async function toggle(kind, button) {
  enabled[kind] = !enabled[kind];
  for (const track of local?.getTracks() ?? []) if (track.kind === kind) track.enabled = enabled[kind];
  button.textContent = enabled[kind] ? s[`${kind}_off_button`] : s[`${kind}_on_button`];
  say(enabled[kind] ? s[`${kind}_is_on`] : s[`${kind}_is_off`]);
  await sendState(socket, roomId, enabled.audio && hasTrack('audio'), enabled.video && hasTrack('video'));
}

function hangUp() {
  inRoomMedia = false;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  pc?.close();
  pc = null;
  slots = [];
  streams.clear();
  shown.clear();
  for (const track of local?.getTracks() ?? []) track.stop();
  local = null;
}

micButton?.addEventListener('click', () => toggle('audio', micButton));
camButton?.addEventListener('click', () => toggle('video', camButton));
document.addEventListener('room:entered', () => { start().catch((err) => say(`${s.failed} ${errorMessage(err)}`)); });
document.addEventListener('room:left', () => { leaveMedia(socket, roomId).catch(() => {}); hangUp(); });
socket.on('room_media.participants', (/** @type {{room_id: number, participants: MediaPeer[]}} */ data) => {
  if (data.room_id !== roomId) return;
  peers = data.participants;
  render();
  ensureSlots();
});
socket.on('room_media.slots', (/** @type {{room_id: number, slots: Slot[]}} */ data) => {
  if (data.room_id !== roomId) return;
  slots = data.slots;
  attachStreams();
});
socket.on('room_media.speaker', (/** @type {{room_id: number, key: string|null}} */ data) => {
  if (data.room_id !== roomId) return;
  if (speaker) document.dispatchEvent(new CustomEvent('room:speaking', { detail: { key: speaker, speaking: false } }));
  speaker = data.key;
  if (speaker) document.dispatchEvent(new CustomEvent('room:speaking', { detail: { key: speaker, speaking: true } }));
  render();
});
socket.on('room_media.closed', (/** @type {{room_id: number, reason: string}} */ data) => {
  if (data.room_id !== roomId) return;
  hangUp();
  say(s.closed);
});

/**
 * What this page receives, per person: decoded video frames and received audio samples
 * (for tests and troubleshooting).
 */
export async function stats() {
  /** @type {Record<string, {video: number, audio: number}>} */
  const byPerson = {};
  let remoteTracks = 0;
  for (const slot of slots) {
    const t = pc?.getTransceivers().find((x) => x.mid === slot.mid);
    if (!slot.publisher || !t) continue;
    remoteTracks += t.receiver.track.readyState === 'live' ? 1 : 0;
    const entry = (byPerson[slot.publisher] ??= { video: 0, audio: 0 });
    (await t.receiver.getStats()).forEach((/** @type {any} */ r) => {
      if (r.type !== 'inbound-rtp') return;
      if (slot.kind === 'video') entry.video += r.framesDecoded ?? 0;
      else entry.audio += r.totalSamplesReceived ?? 0;
    });
  }
  return { me, remoteTracks, byPerson, state: pc?.connectionState ?? 'none', connections: built, route: pc ? await route(pc) : null };
}
