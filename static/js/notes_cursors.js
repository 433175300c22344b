// @ts-check
/**
 * Remote cursors in the notes editor: where each other editor's caret (and selection) is, drawn
 * over the textarea of its theme with the editor's name.
 *
 * Positions travel in the awareness state as Yjs *relative* positions (anchored to the
 * characters around the caret, `Y.createRelativePositionFromTypeIndex`), not as offsets: an
 * offset goes stale as soon as someone types before it, a relative position follows the text and
 * is turned back into an index (`Y.createAbsolutePositionFromRelativePosition`) against our own
 * copy of the document whenever either changes. Indexes are UTF-16 units, as in the textarea.
 *
 * Accessibility: the drawn carets are decoration (`aria-hidden`, no pointer events); the same
 * information is in the text under each theme ("who is writing here, on which line"), which
 * screen readers read (notes.js, `showWho`).
 *
 * The pure parts (`cursorState`, `remoteCarets`, `colourOf`) need no DOM (tests/js).
 */
import { Y } from '/static/vendor/yjs.mjs';

/**
 * @typedef {{anchor: any, head: any}} CursorState  relative positions as JSON
 * @typedef {{client: number, name: string, anchor: number, head: number, colour: string}} Caret
 */

/**
 * The awareness field for a caret at `head` with the selection starting at `anchor`.
 * @param {any} text the theme's Y.Text
 * @param {number} anchor
 * @param {number} head
 * @returns {CursorState}
 */
export function cursorState (text, anchor, head) {
  const rel = (/** @type {number} */ index) =>
    Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, Math.max(0, Math.min(index, text.length))));
  return { anchor: rel(anchor), head: rel(head) };
}

/**
 * Where a relative position (as JSON) lands in `text` now; null if it belongs elsewhere or
 * cannot be resolved yet (its characters have not reached us).
 * @param {any} doc
 * @param {any} text
 * @param {any} json
 * @returns {number | null}
 */
export function resolve (doc, text, json) {
  if (!json || typeof json !== 'object') return null;
  let absolute;
  try {
    absolute = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), doc);
  } catch {
    return null; // a malformed state from some other client: draw nothing
  }
  return absolute && absolute.type === text ? absolute.index : null;
}

/**
 * Every other editor's caret in one theme, resolved against our document.
 * @param {Map<number, any>} states awareness.getStates()
 * @param {number} self our client id
 * @param {any} doc
 * @param {string} theme
 * @param {any} text that theme's Y.Text
 * @returns {Caret[]}
 */
export function remoteCarets (states, self, doc, theme, text) {
  /** @type {Caret[]} */
  const carets = [];
  states.forEach((state, client) => {
    if (client === self || state?.theme !== theme || !state.user?.name || !state.cursor) return;
    const head = resolve(doc, text, state.cursor.head);
    if (head === null) return;
    const anchor = resolve(doc, text, state.cursor.anchor) ?? head;
    carets.push({ client, name: String(state.user.name), anchor, head, colour: colourOf(client) });
  });
  return carets.sort((a, b) => a.client - b.client);
}

/**
 * A dark colour per client (white text on it stays readable: contrast above 4.5:1).
 * @param {number} client
 */
export function colourOf (client) {
  const hue = Math.floor(((client * 2654435761) >>> 0) / 4294967296 * 360);
  return `hsl(${hue} 70% 25%)`;
}

/** Styles copied from the textarea to the mirror that measures where an index is drawn. */
const MIRRORED = ['boxSizing', 'width', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
  'borderTopWidth', 'borderRightWidth', 'borderBottomWidth', 'borderLeftWidth', 'borderStyle',
  'fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'lineHeight', 'letterSpacing',
  'wordSpacing', 'tabSize', 'textIndent', 'textTransform', 'direction'];

/**
 * Where the character at `index` is drawn inside the textarea, relative to its border box, in
 * CSS pixels (a mirror element with the same text, wrapping and font, measured once).
 * @param {HTMLTextAreaElement} textarea
 * @param {number} index
 * @returns {{top: number, left: number, height: number}}
 */
export function caretCoordinates (textarea, index) {
  const mirror = document.createElement('div');
  const style = window.getComputedStyle(textarea);
  for (const name of MIRRORED) /** @type {any} */ (mirror.style)[name] = /** @type {any} */ (style)[name];
  Object.assign(mirror.style, {
    position: 'absolute', visibility: 'hidden', top: '0', left: '-9999px', overflow: 'hidden',
    whiteSpace: 'pre-wrap', overflowWrap: 'break-word', height: 'auto',
  });
  mirror.textContent = textarea.value.slice(0, index);
  const marker = document.createElement('span');
  marker.textContent = textarea.value.slice(index, index + 1) || '.';
  mirror.appendChild(marker);
  document.body.appendChild(mirror);
  const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.3;
  const spot = { top: marker.offsetTop - textarea.scrollTop, left: marker.offsetLeft - textarea.scrollLeft, height: lineHeight };
  mirror.remove();
  return spot;
}

/**
 * The drawn carets of one textarea: a layer over it, redrawn on demand.
 */
export class CaretLayer {
  /** @param {HTMLTextAreaElement} textarea */
  constructor (textarea) {
    this.textarea = textarea;
    const holder = document.createElement('div');
    holder.style.position = 'relative';
    textarea.replaceWith(holder);
    holder.appendChild(textarea);
    this.layer = document.createElement('div');
    this.layer.setAttribute('aria-hidden', 'true');
    this.layer.dataset.notesCarets = textarea.dataset.theme ?? '';
    Object.assign(this.layer.style, { position: 'absolute', inset: '0', pointerEvents: 'none', overflow: 'hidden' });
    holder.appendChild(this.layer);
    /** @type {Caret[]} */
    this.carets = [];
    textarea.addEventListener('scroll', () => this.draw());
    new ResizeObserver(() => this.draw()).observe(textarea);
  }

  /** @param {Caret[]} carets */
  show (carets) {
    this.carets = carets;
    this.draw();
  }

  draw () {
    const parts = [];
    const height = this.textarea.clientHeight;
    for (const caret of this.carets) {
      const spot = caretCoordinates(this.textarea, caret.head);
      if (spot.top + spot.height < 0 || spot.top > height) continue; // scrolled out of view
      const mark = document.createElement('span');
      mark.dataset.notesCaret = caret.name;
      Object.assign(mark.style, {
        position: 'absolute', top: `${spot.top}px`, left: `${spot.left}px`, height: `${spot.height}px`,
        borderLeft: `2px solid ${caret.colour}`, marginLeft: '-1px',
      });
      const label = document.createElement('span');
      label.textContent = caret.name;
      Object.assign(label.style, {
        position: 'absolute', bottom: '100%', left: '-2px', whiteSpace: 'nowrap', fontSize: '.75rem',
        lineHeight: '1.2', padding: '0 .25rem', borderRadius: '.2rem', color: '#fff', background: caret.colour,
      });
      if (spot.top < 16) { label.style.bottom = ''; label.style.top = '100%'; }
      mark.appendChild(label);
      parts.push(mark);
    }
    this.layer.replaceChildren(...parts);
  }
}
