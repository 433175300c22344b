// @ts-check
/** KB's dashboard: region statuses update live as regions save and submit. */
import { watch } from './feedback_protocol.js';
import { socket } from './session.js';

const s = JSON.parse(document.getElementById('feedback-i18n')?.textContent ?? '{}');
const live = document.getElementById('dashboard-live');

socket.on('connect', () => { watch(socket, null).catch(() => {}); });
socket.on('feedback.status', (/** @type {any} */ data) => {
  const cell = document.getElementById(`state-${data.region_code}`);
  if (!cell) return;
  cell.textContent = s[data.status] ?? data.status;
  cell.className = `state state-${data.status}`;
  const name = cell.closest('tr')?.querySelector('th')?.textContent?.trim() ?? data.region_code;
  if (live) live.textContent = String(s.changed).replace('{region}', name);
});
