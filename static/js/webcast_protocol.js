// @ts-check
/**
 * WHIP (RFC 9725) and WHEP clients: one SDP offer per session over HTTP, answered with 201,
 * a Location to DELETE, no trickle ICE (the offer waits for its candidates). No DOM here.
 */

/** The server has no WebRTC seat left (or no WebRTC at all): play this HLS playlist instead. */
export class HlsRedirect extends Error {
  /** @param {string} message @param {string} hls */
  constructor(message, hls) { super(message); this.name = 'HlsRedirect'; this.hls = hls; }
}

/** A refused WHIP/WHEP request, with the server's stable error code. */
export class WebcastError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message); this.name = 'WebcastError'; this.status = status; this.code = code;
  }
}

/**
 * @typedef {{token?: string, csrf?: string, iceServers?: RTCIceServer[], gatherMs?: number}} Options
 * @typedef {{pc: RTCPeerConnection, location: string, stop: () => Promise<void>}} Session
 */

/** Resolve once ICE gathering completes, or after `ms` with what was gathered so far. */
function gathered(/** @type {RTCPeerConnection} */ pc, ms = 3000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener('icegatheringstatechange', check); resolve(undefined); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    pc.addEventListener('icegatheringstatechange', check);
    setTimeout(done, ms);
  });
}

/**
 * The session cookie goes only to this origin: a media node of its own origin is asked with
 * the signed token instead (`opts.token`), so it needs no credentialed CORS.
 * @param {Options} opts @returns {RequestCredentials}
 */
const sendCookies = (opts) => (opts.token ? 'omit' : 'same-origin');

/** @param {Options} opts @returns {Record<string, string>} */
function authHeaders(opts) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.csrf) headers['X-CSRF-Token'] = opts.csrf;
  return headers;
}

/** The HLS alternative a 503 names, in its JSON body or its Link header. */
function hlsHint(/** @type {any} */ body, /** @type {Response} */ res) {
  if (body && typeof body.hls === 'string') return body.hls;
  const link = res.headers.get('Link') ?? '';
  const match = link.match(/<([^>]+)>\s*;[^,]*rel="?alternate"?/);
  return match ? match[1] : '';
}

/**
 * Offer, POST it, apply the answer; returns the session URL (Location).
 * @param {string} url @param {RTCPeerConnection} pc @param {Options} opts
 */
async function negotiate(url, pc, opts) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, opts.gatherMs);
  const res = await fetch(url, {
    method: 'POST', body: pc.localDescription?.sdp ?? '', credentials: sendCookies(opts),
    headers: { 'Content-Type': 'application/sdp', ...authHeaders(opts) },
  });
  if (res.status === 201) {
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    return new URL(res.headers.get('Location') ?? url, new URL(url, location.href)).href;
  }
  const body = await res.json().catch(() => ({}));
  const hls = res.status === 503 ? hlsHint(body, res) : '';
  if (hls) throw new HlsRedirect(body?.error?.message ?? 'over capacity', hls);
  throw new WebcastError(res.status, body?.error?.code ?? `http.${res.status}`,
    body?.error?.message ?? res.statusText);
}

/**
 * End a session: DELETE its URL (keepalive, so it also works while the page unloads).
 * @param {string} url @param {RTCPeerConnection} pc @param {Options} opts
 */
async function hangUp(url, pc, opts) {
  pc.close();
  await fetch(url, { method: 'DELETE', credentials: sendCookies(opts), keepalive: true,
    headers: authHeaders(opts) }).catch(() => undefined);
}

/**
 * Publish a stream's tracks to a WHIP endpoint.
 * @param {string} url @param {MediaStream} stream @param {Options} [opts]
 * @returns {Promise<Session>}
 */
export async function publish(url, stream, opts = {}) {
  const pc = new RTCPeerConnection({ iceServers: opts.iceServers ?? [] });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  try {
    const where = await negotiate(url, pc, opts);
    return { pc, location: where, stop: () => hangUp(where, pc, opts) };
  } catch (err) { pc.close(); throw err; }
}

/**
 * Watch a WHEP endpoint: audio and video, receive only.
 * @param {string} url @param {Options} [opts]
 * @returns {Promise<Session & {stream: MediaStream}>}
 */
export async function view(url, opts = {}) {
  const pc = new RTCPeerConnection({ iceServers: opts.iceServers ?? [] });
  const stream = new MediaStream();
  pc.addEventListener('track', (ev) => stream.addTrack(ev.track));
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  try {
    const where = await negotiate(url, pc, opts);
    return { pc, stream, location: where, stop: () => hangUp(where, pc, opts) };
  } catch (err) { pc.close(); throw err; }
}

/**
 * The stage as the media node sees it: {live, viewer_count, whip, whep, hls}.
 * @param {string} whepUrl @param {Options} [opts]
 */
export async function stageState(whepUrl, opts = {}) {
  const res = await fetch(whepUrl, { credentials: sendCookies(opts), headers: authHeaders(opts) });
  if (!res.ok) throw new WebcastError(res.status, `http.${res.status}`, res.statusText);
  return res.json();
}

/** A random id for one HLS player (page load); works outside secure contexts too. */
export function newPlayerId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Tell the media node an HLS player is playing (PUT, every 10 s) or has stopped (DELETE,
 * keepalive so it works while the page unloads): HLS players count as viewers.
 * @param {string} whepUrl @param {string} playerId @param {'PUT' | 'DELETE'} method @param {Options} [opts]
 */
export async function reportHlsPlayer(whepUrl, playerId, method, opts = {}) {
  const res = await fetch(`${whepUrl}/hls/${playerId}`, {
    method, credentials: sendCookies(opts), keepalive: method === 'DELETE', headers: authHeaders(opts),
  });
  if (!res.ok) throw new WebcastError(res.status, `http.${res.status}`, res.statusText);
}

/**
 * Frames decoded and audio received over a WebRTC session (from getStats).
 * @param {RTCPeerConnection} pc
 */
export async function receiveStats(pc) {
  let framesDecoded = 0; let audioSamples = 0; let audioPackets = 0; let frameHeight = 0;
  (await pc.getStats()).forEach((/** @type {any} */ s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') { framesDecoded += s.framesDecoded ?? 0; frameHeight = s.frameHeight ?? 0; }
    if (s.kind === 'audio') { audioSamples += s.totalSamplesReceived ?? 0; audioPackets += s.packetsReceived ?? 0; }
  });
  return { framesDecoded, audioSamples, audioPackets, frameHeight };
}
