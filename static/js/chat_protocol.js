// @ts-check
/** Wire protocol of the room chat (`chat.send`, `chat.history`; server event `chat.message`). */
import { request } from './protocol.js';

/** @typedef {{id: number, room_id: number, author: string, staff: boolean, text: string, at: string}} Message */

export const MAX_TEXT = 1000;
/** @param {any} socket @param {number} roomId @param {string} text */
export const send = (socket, roomId, text) => request(socket, 'chat.send', { room_id: roomId, text });
/** @param {any} socket @param {number} roomId @returns {Promise<{messages: Message[]}>} */
export const history = (socket, roomId) => request(socket, 'chat.history', { room_id: roomId });
