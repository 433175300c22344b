// @ts-check
/** The moderator's recording panel: start, stop, auto-record and manual chapter marks. */
import { whenConnected } from './protocol.js';
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { socket } from './session.js';
import { getState, mark, onState, setAuto, start, stop } from './recording_protocol.js';

const i18n = strings('recording-i18n');
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const startButton = /** @type {HTMLButtonElement} */ ($('recording-start'));
const stopButton = /** @type {HTMLButtonElement} */ ($('recording-stop'));
const auto = /** @type {HTMLInputElement} */ ($('recording-auto'));
const form = /** @type {HTMLFormElement} */ ($('recording-mark-form'));
const title = /** @type {HTMLInputElement} */ ($('recording-mark-title'));
const message = $('recording-message');

/** @param {import('./recording_protocol.js').RecordingState} state */
function render(state) {
  const el = $('recording-state');
  el.textContent = state.recording ? i18n.on : i18n.off;
  el.classList.toggle('on', state.recording);
  startButton.disabled = state.recording;
  stopButton.disabled = !state.recording;
  form.querySelector('button')?.toggleAttribute('disabled', !state.recording);
  if (state.auto_record !== undefined) auto.checked = state.auto_record;
}

/** @param {() => Promise<unknown>} action */
async function run(action) {
  message.textContent = '';
  try { await action(); } catch (err) { message.textContent = errorMessage(err); }
}

startButton.addEventListener('click', () => run(async () => render(await start(socket))));
stopButton.addEventListener('click', () => run(async () => render(await stop(socket))));
auto.addEventListener('change', () => run(() => setAuto(socket, auto.checked)));
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  run(async () => {
    const made = await mark(socket, title.value);
    const at = new Date(made.offset * 1000).toISOString().slice(11, 19);
    message.textContent = i18n.marked.replace('{title}', made.title).replace('{at}', at);
    title.value = '';
  });
});
onState(socket, render);
whenConnected(socket, async () => render(await getState(socket)));
