// @ts-check
/**
 * Wire protocol of breakout rooms (`breakout.*`, `room.*`), apart from any UI.
 * Server events: `breakout.assigned` {round, room}, `breakout.round` {round},
 * `breakout.timer` {round}, `breakout.broadcast` {text, round}, `breakout.closed` {round},
 * `breakout.rooms` (moderators), `room.participants` {room_id, people}.
 */
import { request } from './protocol.js';

/** @typedef {{id: number, status: string, ends_at: string|null, broadcast: string}} Round */
/** @typedef {{id: number, key: string, name: string, regions: string[], media: boolean}} Room */
/** @typedef {{id: number, name: string}} Member */
/** A room as moderators see it in `breakout.state` and `breakout.rooms`. @typedef {Room & {members: Member[]}} StaffRoom */
/** @typedef {{round: Round | null, rooms?: StaffRoom[], staff_room?: number | null}} StaffView */

/** @param {string} slug */
export const liveUrl = (slug) => `/e/${encodeURIComponent(slug)}/live`;
/** @param {string} slug @param {number} roomId */
export const roomUrl = (slug, roomId) => `/e/${encodeURIComponent(slug)}/rooms/${Number(roomId)}`;

/** @param {any} socket */
export const state = (socket) => request(socket, 'breakout.state');
/** @param {any} socket @param {object} plan */
export const preview = (socket, plan) => request(socket, 'breakout.preview', plan);
/** @param {any} socket @param {object} plan */
export const openRound = (socket, plan) => request(socket, 'breakout.open', plan);
/** @param {any} socket @param {number} minutes */
export const extend = (socket, minutes) => request(socket, 'breakout.extend', { minutes });
/** @param {any} socket @param {string} text */
export const broadcast = (socket, text) => request(socket, 'breakout.broadcast', { text });
/** @param {any} socket */
export const closeAll = (socket) => request(socket, 'breakout.close');
/** @param {any} socket @param {number} registrationId @param {number} roomId */
export const move = (socket, registrationId, roomId) =>
  request(socket, 'breakout.move', { registration_id: registrationId, room_id: roomId });
/** @param {any} socket */
export const templates = (socket) => request(socket, 'breakout.templates');
/** @param {any} socket @param {object} plan */
export const saveTemplate = (socket, plan) => request(socket, 'breakout.template_save', plan);
/** @param {any} socket @param {number} roomId */
export const enterRoom = (socket, roomId) => request(socket, 'room.enter', { room_id: roomId });
/** @param {any} socket @param {number} roomId @param {boolean} raised */
export const raiseHand = (socket, roomId, raised) => request(socket, 'room.hand', { room_id: roomId, raised });

/**
 * Time left until `endsAt` as m:ss (0:00 once passed).
 * @param {string|null} endsAt @param {number} [now]
 */
export function timeLeft(endsAt, now = Date.now()) {
  if (!endsAt) return { text: '–', over: false };
  const left = Math.max(0, Math.round((Date.parse(endsAt) - now) / 1000));
  const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  return { text, over: left === 0 };
}
