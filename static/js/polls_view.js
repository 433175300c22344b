// @ts-check
/** Polls: the results as text (counts and percentages), with a bar per answer for the eye. */
import { h } from './ui.js';

/**
 * @typedef {{id: number, question: string, options: string[], status: string,
 *   on_screen?: boolean, counts: number[], total: number, mine?: number | null}} Poll
 */

export const strings = () => JSON.parse(document.getElementById('polls-i18n')?.textContent ?? '{}');

/** @param {string} template @param {Record<string, string | number>} values */
export const fill = (template, values) =>
  Object.entries(values).reduce((text, [k, v]) => text.replace(`{${k}}`, String(v)), template);

/** @param {Poll} poll @param {Record<string, string>} s */
export function results(poll, s) {
  const list = h('ol', { class: 'poll-results' });
  poll.options.forEach((option, i) => {
    const count = poll.counts[i] ?? 0;
    const percent = poll.total ? Math.round((100 * count) / poll.total) : 0;
    const bar = h('span', { class: 'poll-bar', 'aria-hidden': 'true' }, [h('span')]);
    /** @type {HTMLElement} */ (bar.firstElementChild).style.width = `${percent}%`;
    list.append(h('li', poll.mine === i ? { class: 'mine' } : {}, [
      h('span', { class: 'poll-line' }, [
        h('span', { class: 'poll-option' }, [option]),
        h('span', { class: 'poll-count' }, [fill(s.votes, { count, percent })]),
      ]),
      bar,
    ]));
  });
  return list;
}

/** @param {Poll} poll @param {Record<string, string>} s */
export function summary(poll, s) {
  const state = poll.status === 'open' ? s.open : poll.status === 'closed' ? s.closed : s.draft;
  return h('p', { class: 'help poll-summary' }, [`${fill(s.total, { count: poll.total })} · ${state}`]);
}

/** New counts for a poll already shown. @param {Poll} poll @param {{counts: number[], total: number}} update */
export const withResults = (poll, update) => ({ ...poll, counts: update.counts, total: update.total });
