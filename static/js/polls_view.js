// @ts-check
/** Polls: the results as text (counts and percentages), with a bar per answer for the eye. */
import { fill } from './i18n.js';
import { h } from './ui.js';

/** @typedef {import('./polls_protocol.js').Poll} Poll */

/** The id of the polls' strings (templates/polls/_strings.html). */
export const STRINGS = 'polls-i18n';

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
