// @ts-check
/**
 * The notes editor of a breakout room: one labelled textarea per §18 theme, bound to its Y.Text,
 * and who else is writing in which theme. The wire protocol lives in notes_protocol.js.
 *
 * The binding is a diff: on each input event we compare the textarea with the Y.Text and apply
 * the one edit between them, at UTF-16 positions as Yjs counts them. Remote changes replace the
 * textarea's value and move the caret through the change's delta.
 *
 * Other editors' carets are drawn over each textarea from their awareness state (relative
 * positions, notes_cursors.js); the drawing is aria-hidden, the text line under each theme says
 * the same for everyone.
 */
import { errorMessage } from './errors.js';
import { strings as i18n } from './i18n.js';
import { socket } from './session.js';
import { NotesLink, diff, mapIndex } from './notes_protocol.js';
import { CaretLayer, cursorState, remoteCarets } from './notes_cursors.js';

const LOCAL = 'local-input';

for (const panel of document.querySelectorAll('[data-notes-room]')) {
  start(/** @type {HTMLElement} */ (panel));
}

/** @param {HTMLElement} panel */
function start (panel) {
  const strings = i18n(panel.querySelector('script[data-notes-i18n]'));
  const status = /** @type {HTMLElement} */ (panel.querySelector('[data-notes-status]'));
  const say = (/** @type {string} */ text) => { status.textContent = text; };
  const link = new NotesLink(socket, Number(panel.dataset.notesRoom), {
    onJoin: (info) => {
      if (link.awareness.getLocalState() === null || !link.awareness.getLocalState()?.user) {
        link.awareness.setLocalStateField('user', { name: info.user });
      }
      if (!info.writable) say(strings.read_only);
    },
    onSynced: () => { bindAll(panel, link, strings); say(link.readOnly ? strings.read_only : strings.synced); },
    onOffline: () => say(strings.offline),
    onError: (error) => say(`${strings.refused} ${errorMessage(error)}`),
  });
  socket.on('connect', () => { if (link.synced) say(link.readOnly ? strings.read_only : strings.synced); });
  link.awareness.on('change', () => { showWho(panel, link, strings); drawCarets(link); });
}

/** @type {WeakMap<NotesLink, Map<string, {layer: CaretLayer, text: any}>>} */
const layers = new WeakMap();

/**
 * Redraw the other editors' carets, in one theme or in all.
 * @param {NotesLink} link
 * @param {string} [only]
 */
function drawCarets (link, only) {
  for (const [theme, { layer, text }] of layers.get(link) ?? []) {
    if (only === undefined || only === theme) {
      layer.show(remoteCarets(link.awareness.getStates(), link.doc.clientID, link.doc, theme, text));
    }
  }
}

/**
 * @param {HTMLElement} panel
 * @param {NotesLink} link
 * @param {Record<string, string>} strings
 */
function bindAll (panel, link, strings) {
  for (const area of panel.querySelectorAll('textarea[data-theme]')) {
    const textarea = /** @type {HTMLTextAreaElement} */ (area);
    const text = link.section(textarea.dataset.theme ?? '');
    if (text && !textarea.dataset.bound) bind(textarea, text, link);
  }
  showWho(panel, link, strings);
}

/**
 * @param {HTMLTextAreaElement} textarea
 * @param {any} text the theme's Y.Text
 * @param {NotesLink} link
 */
function bind (textarea, text, link) {
  textarea.dataset.bound = '1';
  const theme = textarea.dataset.theme ?? '';
  if (!layers.has(link)) layers.set(link, new Map());
  layers.get(link)?.set(theme, { layer: new CaretLayer(textarea), text });
  textarea.value = text.toString();
  textarea.readOnly = link.readOnly;
  textarea.disabled = false;
  textarea.addEventListener('input', () => {
    const edit = diff(text.toString(), textarea.value);
    link.doc.transact(() => {
      if (edit.remove) text.delete(edit.index, edit.remove);
      if (edit.insert) text.insert(edit.index, edit.insert);
    }, LOCAL);
    where(textarea, link, text);
  });
  text.observe((/** @type {any} */ event, /** @type {any} */ tr) => {
    drawCarets(link, theme); // their carets sit on characters that may have moved
    if (tr.origin === LOCAL) return;
    const [from, to] = [textarea.selectionStart, textarea.selectionEnd];
    textarea.value = text.toString();
    if (document.activeElement === textarea) {
      textarea.setSelectionRange(mapIndex(from, event.delta), mapIndex(to, event.delta));
    }
  });
  for (const name of ['focus', 'keyup', 'click', 'select']) textarea.addEventListener(name, () => where(textarea, link, text));
  document.addEventListener('selectionchange', () => { if (document.activeElement === textarea) where(textarea, link, text); });
  textarea.addEventListener('blur', () => link.awareness.setLocalStateField('theme', null));
}

/**
 * Tell the others which theme we are in, on which line, and where our caret and selection
 * are (relative positions: they follow the text as others type before them). Sent only when
 * one of those changes: typing moves the index but not the relative position after it.
 * @param {HTMLTextAreaElement} textarea
 * @param {NotesLink} link
 * @param {any} text
 */
function where (textarea, link, text) {
  if (link.readOnly) return;
  const { selectionStart: start, selectionEnd: end, selectionDirection: direction } = textarea;
  const line = textarea.value.slice(0, start).split('\n').length;
  const cursor = direction === 'backward' ? cursorState(text, end, start) : cursorState(text, start, end);
  const state = link.awareness.getLocalState() ?? {};
  if (state.theme !== textarea.dataset.theme || state.line !== line ||
      JSON.stringify(state.cursor) !== JSON.stringify(cursor)) {
    link.awareness.setLocalState({ ...state, theme: textarea.dataset.theme, line, cursor });
  }
}

/**
 * Under each theme: who else is writing there, and on which line.
 * @param {HTMLElement} panel
 * @param {NotesLink} link
 * @param {Record<string, string>} strings
 */
function showWho (panel, link, strings) {
  /** @type {Map<string, string[]>} */
  const byTheme = new Map();
  link.awareness.getStates().forEach((state, client) => {
    if (client === link.doc.clientID || !state?.theme || !state.user?.name) return;
    const names = byTheme.get(state.theme) ?? [];
    names.push((strings.at_line ?? '{name}').replace('{name}', state.user.name).replace('{line}', String(state.line ?? 1)));
    byTheme.set(state.theme, names);
  });
  for (const who of panel.querySelectorAll('[data-notes-who]')) {
    const el = /** @type {HTMLElement} */ (who);
    const names = byTheme.get(el.dataset.notesWho ?? '') ?? [];
    el.textContent = names.length ? `${strings.writing_here} ${names.join(', ')}` : '';
  }
}
