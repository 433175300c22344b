// @ts-check
/** KB's dashboard: region statuses update live as regions save and submit. */
import { whenConnected } from './protocol.js';
import { strings } from './i18n.js';
import { watch } from './feedback_protocol.js';
import { socket } from './session.js';

const s = strings('feedback-i18n');
const live = document.getElementById('dashboard-live');

whenConnected(socket, () => watch(socket, null));
socket.on('feedback.status', (/** @type {any} */ data) => {
  const cell = document.getElementById(`state-${data.region_code}`);
  if (!cell) return;
  cell.textContent = s[data.status] ?? data.status;
  cell.className = `state state-${data.status}`;
  const name = cell.closest('tr')?.querySelector('th')?.textContent?.trim() ?? data.region_code;
  if (live) live.textContent = String(s.changed).replace('{region}', name);
});
