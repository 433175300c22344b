// @ts-check
/**
 * The cross-room view: one theme, every room's section side by side, live and read-only.
 * Each room card joins that room's notes as a reader and shows the theme's text as it changes.
 */
import { errorMessage } from './errors.js';
import { strings as i18n } from './i18n.js';
import { socket } from './session.js';
import { NotesLink } from './notes_protocol.js';

const root = /** @type {HTMLElement | null} */ (document.querySelector('[data-notes-theme]'));
const theme = root?.dataset.notesTheme ?? '';
const status = document.querySelector('[data-notes-status]');
const strings = i18n(document.querySelector('script[data-notes-i18n]'));
let live = 0;

for (const el of document.querySelectorAll('[data-notes-room-view]')) {
  const view = /** @type {HTMLElement} */ (el);
  const link = new NotesLink(socket, Number(view.dataset.notesRoomView), {
    readOnly: true,
    onSynced: () => {
      const text = link.section(theme);
      if (!text) return;
      const show = () => { view.textContent = text.toString(); view.dataset.live = '1'; };
      show();
      text.observe(show);
      live += 1;
      if (status) status.textContent = (strings.live ?? '{count}').replace('{count}', String(live));
    },
    onOffline: () => { if (status) status.textContent = strings.offline ?? ''; },
    onError: (error) => { if (status) status.textContent = `${strings.refused ?? ''} ${errorMessage(error)}`; },
  });
}
