// @ts-check
/**
 * The audio and video of a breakout room (UI). Starts when the room page has entered the room
 * (`room:entered`), hangs up on `room:left` or when the server closes the room's media.
 * The server forwards each person's VP8 and Opus to the others without decoding, and only
 * what this page shows: the video of the last speakers (N, or 1 on a phone, 0 while the page
 * is hidden) plus those pinned here (`room_media.view`), the audio of those speaking. The one
 * speaking is shown large, others small, initials where no video comes. Mute and camera-off
 * switch the local track off (track.enabled) and tell the others with `room_media.state`; a
 * facilitator can make the room sound only (`room_media.audio_only`).
 * The active speaker (`room_media.speaker`) is highlighted here and in the participant list
 * (`room:speaking` for breakout_room.js).
 * A connection that stops receiving anything for 2 s (the network changed under the laptop, the
 * node hosting the room went away) is rebuilt at once, not when ICE gives up half a minute
 * later: the server cannot restart ICE on its side, so a new connection from the current
 * network replaces the old one (the server knows it by its new ICE credentials); a socket that
 * no longer answers is reconnected first (protocol.socketAlive). One that fails to come up backs off from 1 s to 30 s; one the server no longer
 * knows after a reconnect (the node restarted, another node hosts the room now) is rebuilt too.
 */
import { iceServers, receivedBytes, route } from './ice.js';
import { errorMessage } from './errors.js';
import { socketAlive } from './protocol.js';
import { strings } from './i18n.js';
import {
  addSlots, joinMedia, leaveMedia, negotiate, preferVp8, sendState, sendView, setAudioOnly,
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
const audioOnlyButton = /** @type {HTMLButtonElement|null} */ (document.getElementById('media-audio-only'));
/** Whose video this page keeps whoever speaks (the server sends the last speakers' besides). */
let pins = /** @type {string[]} */ ([]);
let audioOnly = false;
/** A phone shows the speaker alone; a hidden page shows nothing: the server sends no more. */
const narrow = window.matchMedia('(max-width: 40rem)');
const viewSize = () => (document.hidden ? 0 : narrow.matches ? 1 : null);

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
  await sendView(socket, roomId, pins, viewSize()).catch(() => {});
  attachStreams();
}

/** Tell the server what this page shows now (pins, a phone's or a hidden page's size). */
function showChanged() {
  if (pc && inRoomMedia) sendView(socket, roomId, pins, viewSize()).catch(() => {});
}
document.addEventListener('visibilitychange', showChanged);
narrow.addEventListener('change', showChanged);

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

/** Whether a person's video reaches this page now (the server sends the last speakers' and the pinned). @param {string} key */
const hasVideo = (key) => Boolean(key === me ? local?.getVideoTracks().length && enabled.video && !audioOnly
  : streams.get(key)?.getVideoTracks().length);

/** @param {string} key */
function togglePin(key) {
  pins = pins.includes(key) ? pins.filter((p) => p !== key) : [...pins, key].slice(-4);
  showChanged();
  render();
}

/** The tile of one person, created once and updated in place (a playing video keeps playing):
 * their video, or their initials when none comes (camera off, not among the speakers shown),
 * their name and flags, and a pin button for the others. @param {MediaPeer} peer */
function tile(peer) {
  const self = peer.key === me;
  let figure = shown.get(peer.key);
  if (!figure) {
    const element = /** @type {HTMLVideoElement} */ (h('video', { autoplay: '', playsinline: '' }));
    element.muted = self;
    const initials = h('span', { class: 'media-initials', 'aria-hidden': 'true' });
    const children = [element, initials, h('figcaption')];
    if (!self) {
      const pin = h('button', { type: 'button', class: 'media-pin', 'aria-pressed': 'false' });
      pin.addEventListener('click', () => togglePin(peer.key));
      children.push(pin);
    }
    figure = h('figure', { class: 'media-tile', 'data-person-key': peer.key }, children);
    shown.set(peer.key, figure);
  }
  const video = /** @type {HTMLVideoElement} */ (figure.querySelector('video'));
  const source = self ? local : streams.get(peer.key) ?? null;
  if (video.srcObject !== source) video.srcObject = source;
  /** @type {HTMLElement} */ (figure.querySelector('.media-initials')).textContent =
    peer.name.split(/\s+/).map((w) => w.slice(0, 1)).join('').slice(0, 2).toUpperCase();
  const flags = [];
  if (!peer.audio) flags.push(s.mic_off);
  if (!peer.video) flags.push(s.camera_off);
  /** @type {HTMLElement} */ (figure.querySelector('figcaption')).textContent =
    `${peer.name}${self ? ` (${s.you})` : ''}${flags.length ? ` – ${flags.join(', ')}` : ''}`;
  const pin = /** @type {HTMLButtonElement|null} */ (figure.querySelector('.media-pin'));
  if (pin) {
    const pinned = pins.includes(peer.key);
    pin.setAttribute('aria-pressed', String(pinned));
    pin.textContent = pinned ? s.unpin : s.pin;
    pin.setAttribute('aria-label', `${pinned ? s.unpin : s.pin}: ${peer.name}`);
  }
  figure.classList.toggle('speaking', peer.key === speaker);
  figure.classList.toggle('no-video', !hasVideo(peer.key));
  return figure;
}

/** The person shown large: the one speaking, else the last pinned, else the last speaker. */
let featured = /** @type {string|null} */ (null);

/** Redraw the tiles: the featured person large first, then yourself, then the others in
 * joining order, those with video before those without. */
function render() {
  if (speaker && speaker !== me) featured = speaker;
  if (featured && !peers.some((p) => p.key === featured)) featured = null;
  const large = featured ?? pins.at(-1) ?? null;
  const rank = (/** @type {MediaPeer} */ p) => (p.key === large ? 0 : p.key === me ? 1 : hasVideo(p.key) ? 2 : 3);
  const order = [...peers].sort((a, b) => rank(a) - rank(b));
  for (const key of [...shown.keys()]) if (!peers.some((p) => p.key === key)) shown.delete(key);
  const figures = order.map(tile);
  if (tiles.contains(document.activeElement)) {
    // Someone is tabbing through the tiles: moving them now would move the focus order under
    // their feet (WCAG 2.4.3). Add and remove only; reorder once the focus leaves the tiles.
    for (const child of [...tiles.children]) {
      if (!figures.includes(/** @type {HTMLElement} */ (child))) child.remove();
    }
    for (const figure of figures) if (figure.parentElement !== tiles) tiles.append(figure);
    reorderLater = true;
  } else {
    tiles.replaceChildren(...figures);
  }
  for (const [key, figure] of shown) figure.classList.toggle('featured', key === large && peers.length > 2);
}

/** The tiles' order waits while the keyboard focus is among them (see render). */
let reorderLater = false;
tiles.addEventListener('focusout', (event) => {
  if (reorderLater && !tiles.contains(/** @type {Node|null} */ (event.relatedTarget))) {
    reorderLater = false;
    render();
  }
});

/** @param {'audio'|'video'} kind @param {HTMLButtonElement} button */
async function toggle(kind, button) {
  enabled[kind] = !enabled[kind];
  for (const track of local?.getTracks() ?? []) {
    if (track.kind === kind) track.enabled = enabled[kind] && !(kind === 'video' && audioOnly);
  }
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
audioOnlyButton?.addEventListener('click', () => {
  setAudioOnly(socket, roomId, !audioOnly).catch((err) => say(`${s.failed} ${errorMessage(err)}`));
});

/** The room became sound only (or stopped being): our camera stops sending too. @param {boolean} on */
function setRoomAudioOnly(on) {
  if (on === audioOnly) return;
  audioOnly = on;
  for (const track of local?.getVideoTracks() ?? []) track.enabled = enabled.video && !on;
  if (camButton) camButton.disabled = on;
  if (audioOnlyButton) {
    audioOnlyButton.setAttribute('aria-pressed', String(on));
    audioOnlyButton.textContent = on ? s.video_back : s.audio_only;
  }
  say(on ? s.audio_only_is_on : s.audio_only_is_off);
}
camButton?.addEventListener('click', () => toggle('video', camButton));
document.addEventListener('room:entered', () => { start().catch((err) => say(`${s.failed} ${errorMessage(err)}`)); });
document.addEventListener('room:left', () => { leaveMedia(socket, roomId).catch(() => {}); hangUp(); });
socket.on('room_media.participants', (/** @type {{room_id: number, participants: MediaPeer[], audio_only?: boolean}} */ data) => {
  if (data.room_id !== roomId) return;
  peers = data.participants;
  setRoomAudioOnly(Boolean(data.audio_only));
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
