// @ts-check
/**
 * Wire protocol of breakout-room media (`room_media.*`), apart from any UI. See
 * docs/protocol/room_media.md. The participant always offers (no glare): one peer connection,
 * camera and microphone `sendonly`, plus `recvonly` slots; the answer says which person each
 * slot (mid) carries, and `room_media.slots` updates that map when a slot is reused.
 * Server events: `room_media.participants` {room_id, participants}, `room_media.slots` {room_id, slots},
 * `room_media.speaker` {room_id, key}, `room_media.closed` {room_id, reason}.
 */
import { request } from './protocol.js';

/** @typedef {{mid: string, kind: 'audio'|'video', publisher: string|null}} Slot */
/** @typedef {{key: string, name: string, audio: boolean, video: boolean, publishing: boolean, speaking: boolean}} MediaPeer */

export const VIDEO_CODEC = 'video/VP8';

/** @param {any} socket @param {number} roomId */
export const joinMedia = (socket, roomId) => request(socket, 'room_media.join', { room_id: roomId });
/** @param {any} socket @param {number} roomId */
export const leaveMedia = (socket, roomId) => request(socket, 'room_media.leave', { room_id: roomId });
/** Whom this page pins and how many speakers' videos it shows (null: the room's N, 0: hidden).
 * @param {any} socket @param {number} roomId @param {string[]} pins @param {number|null} lastN */
export const sendView = (socket, roomId, pins, lastN) =>
  request(socket, 'room_media.view', { room_id: roomId, pins, last_n: lastN });
/** The facilitator's switch: sound only. @param {any} socket @param {number} roomId @param {boolean} on */
export const setAudioOnly = (socket, roomId, on) =>
  request(socket, 'room_media.audio_only', { room_id: roomId, on });
/** @param {any} socket @param {number} roomId @param {boolean} audio @param {boolean} video */
export const sendState = (socket, roomId, audio, video) =>
  request(socket, 'room_media.state', { room_id: roomId, audio, video });

/**
 * Restrict a video transceiver to VP8 (the server forwards, it never transcodes).
 * @param {RTCRtpTransceiver} transceiver
 */
export function preferVp8(transceiver) {
  const caps = RTCRtpReceiver.getCapabilities('video')?.codecs ?? [];
  const vp8 = caps.filter((c) => c.mimeType === VIDEO_CODEC || c.mimeType === 'video/rtx');
  if (vp8.length) transceiver.setCodecPreferences(vp8);
}

/**
 * Add `pairs` receive slots (one video, one audio each).
 * @param {RTCPeerConnection} pc @param {number} pairs
 */
export function addSlots(pc, pairs) {
  for (let i = 0; i < pairs; i += 1) {
    preferVp8(pc.addTransceiver('video', { direction: 'recvonly' }));
    pc.addTransceiver('audio', { direction: 'recvonly' });
  }
}

/** @param {RTCPeerConnection} pc */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(undefined); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 3000); // gather what we have; the server does not trickle
  });
}

/**
 * Offer (with every candidate: the server does not trickle), apply the answer.
 * @param {any} socket @param {number} roomId @param {RTCPeerConnection} pc
 * @returns {Promise<Slot[]>} the slot map
 */
export async function negotiate(socket, roomId, pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const answer = await request(socket, 'room_media.offer', {
    room_id: roomId, sdp: pc.localDescription?.sdp ?? '',
  });
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  return answer.slots;
}
