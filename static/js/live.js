// @ts-check
/** The participant's live page: connection, presence, current programme item. */
import { socket } from './session.js';

socket.on('programme.current', ({ item_id }) => {
  const li = document.querySelector(`.programme-item[data-item-id="${Number(item_id)}"] h3`);
  const target = document.getElementById('current-item');
  if (target) target.textContent = li ? (li.firstChild?.textContent ?? '').trim() : '';
  document.querySelectorAll('.programme-item').forEach((el) =>
    el.classList.toggle('current', Number(/** @type {HTMLElement} */ (el).dataset.itemId) === Number(item_id)));
});
