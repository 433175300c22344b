// @ts-check
/**
 * Wire protocol of live polls (`polls.*`, docs/protocol/polls.md), apart from any UI.
 * Server events: `polls.state` {poll}, `polls.results` {id, counts, total}.
 */
import { request } from './protocol.js';

/**
 * @typedef {import('./protocol.js').Socket} Socket
 * @typedef {{id: number, question: string, options: string[], status: 'draft' | 'open' | 'closed',
 *   on_screen?: boolean, counts: number[], total: number, mine?: number | null}} Poll
 * @typedef {{id: number, counts: number[], total: number}} Results
 */

/** Every poll of the event, newest first (drafts only for moderators). @param {Socket} socket @returns {Promise<Poll[]>} */
export const list = async (socket) => (await request(socket, 'polls.list')).polls;

/** A new draft. @param {Socket} socket @param {string} question @param {string[]} options @returns {Promise<Poll>} */
export const create = async (socket, question, options) =>
  (await request(socket, 'polls.create', { question, options })).poll;

/** @param {Socket} socket @param {number} pollId @returns {Promise<Poll>} */
export const open = async (socket, pollId) => (await request(socket, 'polls.open', { poll_id: pollId })).poll;

/** @param {Socket} socket @param {number} pollId @returns {Promise<Poll>} */
export const close = async (socket, pollId) => (await request(socket, 'polls.close', { poll_id: pollId })).poll;

/** Put a poll on the presenter screen, or take it off. @param {Socket} socket @param {number} pollId @param {boolean} shown @returns {Promise<Poll>} */
export const screen = async (socket, pollId, shown) =>
  (await request(socket, 'polls.screen', { poll_id: pollId, shown })).poll;

/** Answer (0-based), or change the answer while the poll is open. @param {Socket} socket @param {number} pollId @param {number} option @returns {Promise<Poll>} */
export const vote = async (socket, pollId, option) =>
  (await request(socket, 'polls.vote', { poll_id: pollId, option })).poll;

/** A poll created, opened or closed. @param {Socket} socket @param {(poll: Poll) => void} handler */
export const onPoll = (socket, handler) => { socket.on('polls.state', handler); };

/** New counts, at most twice a second per poll. @param {Socket} socket @param {(results: Results) => void} handler */
export const onResults = (socket, handler) => { socket.on('polls.results', handler); };

/** A poll with new counts. @param {Poll} poll @param {Results} results @returns {Poll} */
export const withResults = (poll, results) => ({ ...poll, counts: results.counts, total: results.total });
