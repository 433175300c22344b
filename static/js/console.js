// @ts-check
/** The moderator console: programme control and who is online. Features add panels. */
import { errorMessage } from './errors.js';
import { request } from './protocol.js';
import { socket } from './session.js';
import { announce, h } from './ui.js';

socket.on('presence.list', (/** @type {{people: {name: string, region: string | null}[]}} */ { people }) => {
  const list = document.getElementById('online-list');
  if (!list) return;
  list.replaceChildren(...people.map((p) => h('li', {}, [`${p.name}${p.region ? ` (${p.region})` : ''}`])));
});

/** @param {number | string | null} itemId */
function markCurrent(itemId) {
  document.querySelectorAll('#console-programme li').forEach((li) => {
    const on = Number(/** @type {HTMLElement} */ (li).dataset.itemId) === Number(itemId);
    li.classList.toggle('current', on);
    li.querySelector('button')?.setAttribute('aria-pressed', String(on));
  });
}

document.getElementById('console-programme')?.addEventListener('click', async (ev) => {
  const btn = /** @type {HTMLElement} */ (ev.target).closest('button.set-current');
  if (!btn) return;
  try {
    await request(socket, 'programme.set_current', { item_id: Number(/** @type {HTMLElement} */ (btn).dataset.itemId) });
  } catch (err) { announce(errorMessage(err)); }
});
socket.on('programme.current', ({ item_id }) => markCurrent(item_id));
