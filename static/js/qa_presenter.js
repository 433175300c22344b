// @ts-check
/**
 * The presenter view (projector, OBS browser source): shows the question on screen in large type.
 * Polls a small JSON state once a second with the Q&A version as ETag, so an unchanged screen
 * costs a 304. No socket: a projector has no person to sign in (see server/views/qa.py).
 * With `?captions=1` it also shows the live caption being read, for the people in the hall.
 * A poll a moderator puts on screen takes the question's place, with its results as they come.
 */
import { strings } from './i18n.js';
import { h } from './ui.js';
import { STRINGS, results, summary } from './polls_view.js';

const body = document.body;
const s = strings('qa-i18n');
const pollStrings = strings(STRINGS);
const slug = body.dataset.eventSlug ?? '';
const key = body.dataset.key ?? '';
const query = new URLSearchParams();
if (key) query.set('key', key);
if (body.dataset.captions) query.set('captions', '1');
const url = `/e/${encodeURIComponent(slug)}/presenter/state${query.toString() ? `?${query}` : ''}`;
const POLL_MS = 1000;
let etag = '';

/** @param {string} tag @param {string} cls @param {string} id @param {string} text */
function p(tag, cls, id, text) {
  const el = document.createElement(tag);
  el.className = cls;
  el.id = id;
  el.textContent = text;
  return el;
}

/** @param {import('./polls_protocol.js').Poll | null} poll */
function showPoll(poll) {
  const card = /** @type {HTMLElement} */ (document.getElementById('presenter-poll'));
  /** @type {HTMLElement} */ (document.getElementById('presenter')).hidden = Boolean(poll);
  card.hidden = !poll;
  card.replaceChildren(...(poll
    ? [h('p', { class: 'poll-question', id: 'presenter-poll-question' }, [poll.question]),
      results(poll, pollStrings), summary(poll, pollStrings)]
    : []));
}

/** @param {{question: {text: string, author: string|null} | null, recording: boolean,
 *   caption: {id: number, text: string} | null, poll: import('./polls_protocol.js').Poll | null}} state */
function show(state) {
  showPoll(state.poll);
  const badge = document.getElementById('presenter-recording');
  if (badge) badge.hidden = !state.recording;
  const caption = document.getElementById('presenter-caption');
  if (caption) {
    caption.hidden = !state.caption;
    /** @type {HTMLElement} */ (caption.firstElementChild).textContent = state.caption?.text ?? '';
  }
  const card = /** @type {HTMLElement} */ (document.getElementById('presenter'));
  const q = state.question;
  card.classList.toggle('empty-card', !q);
  card.replaceChildren(...(q
    ? [p('p', 'question', 'presenter-question', q.text), p('p', 'meta', 'presenter-meta', q.author ?? s.anonymous)]
    : [p('p', 'empty', 'presenter-empty', s.nothing)]));
}

async function poll() {
  try {
    const res = await fetch(url, { headers: etag ? { 'If-None-Match': etag } : {}, cache: 'no-store' });
    if (res.ok) {
      etag = res.headers.get('ETag') ?? '';
      show(await res.json());
    }
  } catch { /* network blip: the next poll tries again */ }
  setTimeout(poll, POLL_MS);
}
poll();
