// @ts-check
/** The producer page: preview a camera and microphone or a shared screen, publish it over WHIP. */
import { iceServers as ice } from './ice.js';
import { errorMessage } from './errors.js';
import { strings } from './i18n.js';
import { csrfToken, fetchToken, whenConnected } from './protocol.js';
import { slug, socket } from './session.js';
import { publish, stageState, WebcastError } from './webcast_protocol.js';

const root = /** @type {HTMLElement} */ (document.getElementById('producer'));
const preview = /** @type {HTMLVideoElement} */ (document.getElementById('preview'));
const startBtn = /** @type {HTMLButtonElement} */ (document.getElementById('start-publish'));
const stopBtn = /** @type {HTMLButtonElement} */ (document.getElementById('stop-publish'));
const cameraSelect = /** @type {HTMLSelectElement} */ (document.getElementById('camera-select'));
const micSelect = /** @type {HTMLSelectElement} */ (document.getElementById('mic-select'));
const text = strings('webcast-i18n');
const whipUrl = root?.dataset.whip ?? '';

/** @type {MediaStream | null} */
let stream = null;
/** @type {{pc: RTCPeerConnection, stop: () => Promise<void>} | null} */
let session = null;

/** @param {string} id @param {string} value */
function show(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function source() {
  return /** @type {HTMLInputElement} */ (document.querySelector('input[name="source"]:checked')).value;
}

/** @param {string} id */
function deviceConstraint(id) { return id ? { deviceId: { exact: id } } : true; }

/** The stage's best rendition is 1280x720 at 30 frames a second: ask the camera for that
 * (it gives the nearest it has; a browser's default is often 640x480).
 * @param {string} id */
function cameraConstraint(id) {
  return { ...(id ? { deviceId: { exact: id } } : {}), width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
}

/** Camera and microphone, or a shared screen with the microphone as its sound. */
async function capture() {
  const audio = await navigator.mediaDevices.getUserMedia({ audio: deviceConstraint(micSelect.value) });
  const picture = source() === 'screen'
    ? await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 } })
    : await navigator.mediaDevices.getUserMedia({ video: cameraConstraint(cameraSelect.value) });
  // Keep the picture's size when the computer or the line is short: the stage's renditions
  // are made from it, and a slide must stay readable; the browser gives up frames instead.
  for (const track of picture.getVideoTracks()) track.contentHint = source() === 'screen' ? 'text' : 'detail';
  return new MediaStream([...picture.getVideoTracks(), ...audio.getAudioTracks()]);
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of /** @type {const} */ ([[cameraSelect, 'videoinput'], [micSelect, 'audioinput']])) {
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    devices.filter((d) => d.kind === kind).forEach((d, i) => {
      select.append(new Option(d.label || `${kind} ${i + 1}`, d.deviceId));
    });
    select.value = chosen;
  }
}

async function options() {
  const cross = new URL(whipUrl, location.href).origin !== location.origin;
  const iceServers = await ice();
  return cross ? { token: (await fetchToken(slug)).token, iceServers } : { csrf: csrfToken(), iceServers };
}

async function start() {
  startBtn.disabled = true;
  show('publish-state', text.starting);
  try {
    stream = await capture();
    preview.srcObject = stream;
    await listDevices();
    session = await publish(whipUrl, stream, await options());
    session.pc.addEventListener('connectionstatechange', onConnection);
    stream.getVideoTracks()[0]?.addEventListener('ended', stop);  // "stop sharing" in the browser
    stopBtn.disabled = false;
    show('publish-state', text.publishing);
  } catch (err) {
    release();
    startBtn.disabled = false;
    const busy = err instanceof WebcastError && err.status === 409;
    show('publish-state', busy ? text.busy : `${text.failed} (${errorMessage(err)})`);
  }
}

function onConnection() {
  const pc = session?.pc;
  if (pc && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) stop();
}

function release() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  preview.srcObject = null;
}

async function stop() {
  const old = session;
  session = null;
  stopBtn.disabled = true;
  if (old) await old.stop();
  release();
  startBtn.disabled = false;
  show('publish-state', text.not_publishing);
}

/** @param {{live: boolean | null, viewer_count: number | null}} state */
function applyState(state) {
  if (state.live === null) return;
  show('stage-live', state.live ? text.live : text.offline);
  root.classList.toggle('is-live', state.live);
  if (state.viewer_count !== null) show('stage-viewers', text.viewers.replace('{count}', String(state.viewer_count)));
}

if (root && whipUrl) {
  startBtn.addEventListener('click', start);
  stopBtn.addEventListener('click', stop);
  socket.on('webcast.state', applyState);
  whenConnected(socket, async () => {
    const { csrf: _, ...asked } = await options();  // the stage's state: a GET, no CSRF
    applyState(await stageState(whipUrl.replace('/whip/', '/whep/'), asked));
  });
  window.addEventListener('pagehide', () => { session?.stop(); });
}
