// @ts-check
/**
 * The live page's player: WebRTC (WHEP) first, HLS by itself when WebRTC fails or the media
 * node is full; live/offline slate, viewer count and transport from `webcast.state`.
 * `?transport=hls` (or `webrtc`) on the page's URL forces one. While on HLS the player reports
 * itself to the media node every 10 s, so the viewer count includes HLS viewers, and tries
 * WebRTC again now and then (a seat may have freed, the network may have changed): in the
 * background, with HLS playing on, and it changes over only once the new connection carries
 * the picture. The first try after `data-webrtc-retry` seconds, then twice as long each time
 * up to five minutes, each with some randomness, so a full house does not ask all at once.
 * A WebRTC picture that stops while the stage is live (its media node died, the network
 * changed) is offered anew after STALL_MS, as the breakout rooms do, not after the half minute
 * Chromium takes to say `failed`; where the offer fails, HLS takes over until WebRTC answers.
 */
import { iceServers as ice, receivedBytes, route } from './ice.js';
import { strings } from './i18n.js';
import { fetchToken, whenConnected } from './protocol.js';
import { slug, socket } from './session.js';
import { HlsRedirect, newPlayerId, receiveStats, reportHlsPlayer, stageState, view } from './webcast_protocol.js';

const CONNECT_WITHIN_MS = 10000;
const HLS_RETRY_MS = 2000;
const HLS_REPORT_MS = 10000;  // the media node forgets a player after 30 s without a report
const RETRY_MAX_MS = 300000;
/** While the stage sends, the media node's RTCP and media reach a viewer many times a second:
 * this long with nothing received means the connection is gone. Each rebuild in a row waits
 * twice as long (to STALL_MAX_MS), so a restarted node is not asked by everyone at once. */
const STALL_MS = 3000;
const STALL_MAX_MS = 30000;
const WATCH_EVERY_MS = 500;

const root = /** @type {HTMLElement} */ (document.getElementById('player'));
const video = /** @type {HTMLVideoElement} */ (document.getElementById('stage-video'));
const slate = /** @type {HTMLElement} */ (document.getElementById('slate'));
const text = strings('webcast-i18n');
const whepUrl = root.dataset.whep ?? '';
const hlsUrl = root.dataset.hls ?? '';

/** @type {{pc: RTCPeerConnection, stop: () => Promise<void>} | null} */
let session = null;
/** @type {any} */
let hls = null;
let transport = '';
const playerId = newPlayerId();
/** @type {ReturnType<typeof setInterval> | null} */
let reporting = null;
const retryFirstMs = 1000 * Number(root?.dataset.webrtcRetry || 30);
let retryMs = retryFirstMs;
/** @type {ReturnType<typeof setTimeout> | null} */
let retrying = null;
let forced = '';
let live = false;
let stallMs = STALL_MS;
let lastReceived = -1;
let quietSince = 0;
let quietLimit = STALL_MS;
let rebuiltAt = -Infinity;

/** @param {string} id @param {string} value */
function show(id, value) {
  const el = document.getElementById(id);
  if (el && el.textContent !== value) el.textContent = value;
}

/** @param {{live: boolean | null, viewer_count: number | null}} state */
function applyState(state) {
  if (state.live === null) return;  // a web node without media: wait for the media node's word
  live = state.live;
  slate.hidden = state.live;
  root.classList.toggle('is-live', state.live);
  show('stage-live', state.live ? text.live : text.offline);
  if (state.viewer_count !== null) show('stage-viewers', text.viewers.replace('{count}', String(state.viewer_count)));
  if (state.live && transport === 'hls' && hls) hls.startLoad();
}

/** @param {string} name */
function setTransport(name) {
  transport = name;
  root.dataset.transport = name;
  show('stage-transport', name === 'webrtc' ? text.webrtc : text.hls);
}

/** Media on another origin gets the page's signed token; same origin sends the cookie. */
async function options() {
  const cross = new URL(whepUrl, location.href).origin !== location.origin;
  const iceServers = await ice();
  return cross ? { token: (await fetchToken(slug)).token, iceServers } : { iceServers };
}

/** Play with sound if the browser allows it; otherwise muted, with a button to turn sound on. */
async function play() {
  try { await video.play(); } catch {
    video.muted = true;
    await video.play().catch(() => undefined);
    const unmute = document.getElementById('unmute');
    if (unmute) unmute.hidden = false;
  }
}

async function startWebrtc() {
  try {
    const started = await view(whepUrl, await options());
    session = started;
    video.srcObject = started.stream;
    setTransport('webrtc');
    watchConnection(started.pc);
    await play();
  } catch (err) {
    await startHls(err instanceof HlsRedirect ? err.hls : hlsUrl);
  }
}

/** While on HLS (not forced there): try WebRTC again later. */
function retryLater() {
  if (forced === 'hls' || retrying !== null) return;
  const wait = retryMs * (0.75 + Math.random() / 2);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  retrying = setTimeout(async () => {
    retrying = null;
    if (transport !== 'hls') return;
    if (!(await tryWebrtc())) retryLater();
  }, wait);
}

/** A WebRTC session opened beside the playing HLS; taken over only once it is connected. */
async function tryWebrtc() {
  /** @type {{pc: RTCPeerConnection, stream: MediaStream, stop: () => Promise<void>} | null} */
  let trial = null;
  try {
    trial = await view(whepUrl, await options());
    const pc = trial.pc;
    const connected = await new Promise((resolve) => {
      if (pc.connectionState === 'connected') { resolve(true); return; }
      const timer = setTimeout(() => resolve(false), CONNECT_WITHIN_MS);
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'connected') { clearTimeout(timer); resolve(true); }
        if (pc.connectionState === 'failed') { clearTimeout(timer); resolve(false); }
      });
    });
    if (!connected || transport !== 'hls') { await trial.stop(); return false; }
  } catch {
    await trial?.stop();
    return false;  // still full (503 to HLS) or no way through: stay on HLS
  }
  hls?.destroy();
  hls = null;
  video.removeAttribute('src');
  stopReporting();
  session = trial;
  video.srcObject = trial.stream;
  setTransport('webrtc');
  retryMs = retryFirstMs;
  watchConnection(trial.pc);
  await play();
  return true;
}

/** A peer that never connects (UDP blocked) or fails later makes way for HLS. */
function watchConnection(/** @type {RTCPeerConnection} */ pc) {
  const timer = setTimeout(() => { if (pc.connectionState !== 'connected') fallBack(pc); }, CONNECT_WITHIN_MS);
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected') clearTimeout(timer);
    if (pc.connectionState === 'failed') fallBack(pc);
  });
}

/** Offer again when a live stage's WebRTC picture has stopped arriving. */
async function watchStall() {
  const current = session;
  if (!current || transport !== 'webrtc' || !live) { quietSince = 0; return; }
  const bytes = await receivedBytes(current.pc);
  const now = performance.now();
  if (bytes !== lastReceived || !quietSince) {
    if (now - rebuiltAt > 2 * STALL_MAX_MS) stallMs = STALL_MS;  // long since the last rebuild
    lastReceived = bytes;
    quietSince = now;
    quietLimit = stallMs * (0.75 + Math.random() / 2);
    return;
  }
  if (now - quietSince < quietLimit || session !== current) return;
  quietSince = 0;
  rebuiltAt = now;
  stallMs = Math.min(stallMs * 2, STALL_MAX_MS);
  await stopWebrtc();
  await startWebrtc();
}

function fallBack(/** @type {RTCPeerConnection} */ pc) {
  if (session?.pc !== pc) return;
  startHls(hlsUrl);
}

async function stopWebrtc() {
  const old = session;
  session = null;
  video.srcObject = null;
  if (old) await old.stop();
}

/** Count this page among the HLS viewers for as long as it plays HLS. */
function reportHls() {
  const report = () => options().then((o) => reportHlsPlayer(whepUrl, playerId, 'PUT', o)).catch(() => undefined);
  report();
  reporting = setInterval(report, HLS_REPORT_MS);
}

function stopReporting() {
  if (reporting === null) return;
  clearInterval(reporting);
  reporting = null;
  options().then((o) => reportHlsPlayer(whepUrl, playerId, 'DELETE', o)).catch(() => undefined);
}

/** @param {string} url */
async function startHls(url) {
  await stopWebrtc();
  setTransport('hls');
  if (reporting === null) reportHls();
  retryLater();
  const { default: Hls } = await import('/static/vendor/hls.min.mjs');
  if (!Hls.isSupported()) { video.src = url; await play(); return; }  // Safari plays HLS itself
  hls = new Hls({ liveSyncDurationCount: 2, lowLatencyMode: false });
  hls.on(Hls.Events.ERROR, (/** @type {any} */ _e, /** @type {any} */ data) => {
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else setTimeout(() => hls.loadSource(url), HLS_RETRY_MS);  // no playlist yet: nobody published
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { play(); });
  hls.loadSource(url);
  hls.attachMedia(video);
}

/** Seconds the picture is behind the live stage: HLS's live delay, nearly nothing on WebRTC.
 * Live captions wait this long, so the words meet the picture they belong to. */
export function liveDelaySeconds() {
  return transport === 'hls' && hls ? Math.max(0, Number(hls.latency) || 0) : 0;
}

/** What the viewer is getting: decoded frames and audio. For the e2e tests and for support. */
export async function stats() {
  const base = { transport, currentTime: video.currentTime, audioBytes: /** @type {any} */ (video).webkitAudioDecodedByteCount ?? 0 };
  if (transport === 'webrtc' && session) return { ...base, ...(await receiveStats(session.pc)), route: await route(session.pc) };
  const quality = video.getVideoPlaybackQuality?.();
  return {
    ...base, framesDecoded: quality?.totalVideoFrames ?? 0, audioTracks: hls?.audioTracks?.length ?? 0,
    frameHeight: video.videoHeight, levels: hls?.levels?.map((/** @type {any} */ l) => l.height) ?? [],
  };
}

function init() {
  document.getElementById('unmute')?.addEventListener('click', (ev) => {
    video.muted = false;
    /** @type {HTMLElement} */ (ev.currentTarget).hidden = true;
  });
  socket.on('webcast.state', applyState);
  whenConnected(socket, async () => applyState(await stageState(whepUrl, await options())));
  window.addEventListener('pagehide', () => { session?.stop(); stopReporting(); });
  forced = new URLSearchParams(location.search).get('transport') ?? '';
  if (forced === 'hls') startHls(hlsUrl); else startWebrtc();
  setInterval(() => { watchStall().catch(() => undefined); }, WATCH_EVERY_MS);
}

if (root && video && whepUrl) init();
