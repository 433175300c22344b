// @ts-check
/**
 * Q&A wire protocol, apart from any UI: a versioned store of questions kept current from the
 * `qa.snapshot` answer and the live `qa.*` broadcasts. A broadcast whose version skips one or
 * more numbers means something was missed (a reconnect, a lost packet): the store re-fetches
 * the snapshot. Sorting happens here, client side.
 */
import { request, whenConnected } from './protocol.js';

/**
 * @typedef {{id: number, state: string, text?: string, author?: string|null, anonymous?: boolean,
 *   item_id?: number|null, votes?: number, created_at?: string, approved_at?: string|null,
 *   answered_at?: string|null, answer?: string, answered_by?: string, mine?: boolean,
 *   voted?: boolean, reject_reason?: string, merged_into_id?: number|null}} Question
 * @typedef {{open: boolean, premoderation: boolean, allow_anonymous: boolean}} QaSettings
 */

export const VISIBLE_TO_MODERATORS = new Set(['pending', 'approved', 'answered', 'rejected']);

export class QaStore {
  /**
   * @param {any} socket the page's socket.io socket
   * @param {{moderator?: boolean}} [options]
   */
  constructor(socket, options = {}) {
    this.socket = socket;
    this.moderator = Boolean(options.moderator);
    this.version = -1;
    /** @type {Map<number, Question>} */
    this.questions = new Map();
    /** @type {Set<number>} */ this.mine = new Set();
    /** @type {Set<number>} */ this.voted = new Set();
    /** @type {QaSettings} */ this.settings = { open: true, premoderation: true, allow_anonymous: true };
    /** @type {number|null} */ this.onScreenId = null;
    /** @type {Set<() => void>} */ this.listeners = new Set();
    this.fetching = false;
    /** @type {[number, () => void][]} messages that arrived while a snapshot was on its way */
    this.queued = [];
    socket.on('qa.question', (/** @type {any} */ m) => this.receive(m.version, () => this.upsert(m.question)));
    socket.on('qa.votes', (/** @type {any} */ m) => this.receive(m.version, () => this.setVotes(m.id, m.votes)));
    socket.on('qa.settings', (/** @type {any} */ m) => this.receive(m.version, () => {
      this.settings = { open: m.open, premoderation: m.premoderation, allow_anonymous: m.allow_anonymous };
    }));
    socket.on('qa.on_screen', (/** @type {any} */ m) => this.receive(m.version, () => {
      this.onScreenId = m.question_id;
      if (m.question) this.upsert(m.question);
    }));
    whenConnected(socket, () => this.refresh());
  }

  /** @param {() => void} fn */
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  changed() { for (const fn of this.listeners) fn(); }

  /** Fetch the snapshot (on connect, and whenever a gap in versions shows a missed message). */
  async refresh() {
    if (this.fetching) return;
    this.fetching = true;
    try {
      const snap = await request(this.socket, 'qa.snapshot');
      this.version = snap.version;
      this.settings = snap.settings;
      this.onScreenId = snap.on_screen_id;
      this.questions = new Map(snap.questions.map((/** @type {Question} */ q) => [q.id, q]));
      this.mine = new Set(snap.questions.filter((/** @type {Question} */ q) => q.mine).map((/** @type {Question} */ q) => q.id));
      this.voted = new Set(snap.questions.filter((/** @type {Question} */ q) => q.voted).map((/** @type {Question} */ q) => q.id));
    } finally { this.fetching = false; }
    const queued = this.queued.sort((a, b) => a[0] - b[0]);
    this.queued = [];
    for (const [version, apply] of queued) this.receive(version, apply, false);
    this.changed();
  }

  /**
   * Apply a broadcast at `version`. Older than what we have: already included, ignore.
   * The next one (or another message of the same change): apply. Further ahead: re-fetch.
   * @param {number} version @param {() => void} apply @param {boolean} [notify]
   */
  receive(version, apply, notify = true) {
    if (this.version < 0 || this.fetching) { this.queued.push([version, apply]); this.refresh(); return; }
    if (version < this.version) return;
    if (version > this.version + 1) { this.queued.push([version, apply]); this.refresh(); return; }
    this.version = version;
    apply();
    if (notify) this.changed();
  }

  /** @param {Question} q */
  upsert(q) {
    if (q.mine) this.mine.add(q.id);
    const own = this.mine.has(q.id);
    if (this.keeps(q, own)) this.questions.set(q.id, { ...this.questions.get(q.id), ...q });
    else if (!(q.state === 'hidden' && own)) this.questions.delete(q.id);
    if (this.onScreenId === q.id && !['approved', 'answered'].includes(q.state)) this.onScreenId = null;
  }

  /** @param {Question} q @param {boolean} own */
  keeps(q, own) {
    if (this.moderator) return VISIBLE_TO_MODERATORS.has(q.state);
    return q.state === 'approved' || q.state === 'answered' || (own && q.state === 'pending');
  }

  /** @param {number} id @param {number} votes */
  setVotes(id, votes) {
    const q = this.questions.get(id);
    if (q) q.votes = votes;
  }

  /**
   * Questions of the given states, sorted by votes (ties: newest first) or by time (newest first).
   * @param {'votes'|'time'} order @param {string[]} states
   */
  list(order, states) {
    const picked = [...this.questions.values()].filter((q) => states.includes(q.state));
    const time = (/** @type {Question} */ q) => Date.parse(q.created_at ?? '') || 0;
    return picked.sort((a, b) => order === 'votes'
      ? (b.votes ?? 0) - (a.votes ?? 0) || time(b) - time(a)
      : time(b) - time(a));
  }

  /** @param {string} text @param {boolean} anonymous @param {number|null} itemId */
  async ask(text, anonymous, itemId) {
    const ack = await request(this.socket, 'qa.ask', { text, anonymous, item_id: itemId });
    this.mine.add(ack.question.id);
    this.receive(ack.version, () => this.upsert(ack.question));
    return ack.question;
  }

  /** @param {number} id @param {boolean} up */
  async vote(id, up) {
    const ack = await request(this.socket, 'qa.vote', { question_id: id, up });
    if (up) this.voted.add(id); else this.voted.delete(id);
    this.receive(ack.version, () => this.setVotes(id, ack.votes));
    this.changed();
  }

  /** A moderator command: `qa.approve`, `qa.reject`, ... @param {string} name @param {object} payload */
  command(name, payload) { return request(this.socket, name, payload); }
}
