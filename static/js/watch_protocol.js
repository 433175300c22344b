// @ts-check
/** Wire protocol of watching together (`watch.state`, `watch.control`; server event
 * `watch.state` to everyone in the room). */
import { request } from './protocol.js';

/**
 * @typedef {{active: boolean, room_id?: number, publication_id?: number, title?: string,
 *   media?: string, position?: number, playing?: boolean, server_time: string, by?: string}} State
 * @typedef {{id: number, title: string}} Film
 * @typedef {'start' | 'play' | 'pause' | 'seek' | 'stop'} Action
 */

/** @param {any} socket @param {number} roomId
 * @returns {Promise<{state: State, leads: boolean, films: Film[]}>} */
export const state = (socket, roomId) => request(socket, 'watch.state', { room_id: roomId });

/** @param {any} socket @param {number} roomId @param {Action} action
 * @param {{publication_id?: number, position?: number}} [extra]
 * @returns {Promise<{state: State}>} */
export const control = (socket, roomId, action, extra = {}) =>
  request(socket, 'watch.control', { room_id: roomId, action, ...extra });
