// @ts-check
/** Wire protocol of the recording feature: `recording.*` socket events (no DOM here). */
import { request } from './protocol.js';

/**
 * @typedef {{recording: boolean, recording_id: number|null, since: string|null,
 *   paused: boolean, auto_record?: boolean}} RecordingState
 * @typedef {import('/static/vendor/socket.io.esm.min.js').Socket} Socket
 */

/** @param {Socket} socket @returns {Promise<RecordingState>} */
export async function getState(socket) {
  return (await request(socket, 'recording.get')).state;
}

/** @param {Socket} socket @returns {Promise<RecordingState>} */
export async function start(socket) {
  return (await request(socket, 'recording.start', {})).state;
}

/** @param {Socket} socket @returns {Promise<RecordingState>} */
export async function stop(socket) {
  return (await request(socket, 'recording.stop', {})).state;
}

/** @param {Socket} socket @param {string} title @returns {Promise<{offset: number, title: string}>} */
export async function mark(socket, title) {
  return (await request(socket, 'recording.mark', { title })).mark;
}

/** @param {Socket} socket @param {boolean} on */
export async function setAuto(socket, on) {
  return request(socket, 'recording.auto', { on });
}

/** @param {Socket} socket @param {(state: RecordingState) => void} handler */
export function onState(socket, handler) {
  socket.on('recording.state', handler);
}
