// @ts-check
/**
 * Live captions on the live page. Each `captions.line` becomes a cue of a native text track on
 * the stage video, so it follows the video into full screen and the viewer's own caption
 * settings, and the browser's captions button turns it off; on HLS the cue waits for the
 * player's live delay. The transcript panel keeps the lines to read back.
 */
import { strings } from './i18n.js';
import { request, whenConnected } from './protocol.js';
import { socket } from './session.js';
import { KEEP_LINES, cueText, placeCue } from './captions_protocol.js';
import { liveDelaySeconds } from './webcast_player.js';

const text = strings('captions-i18n');
const video = /** @type {HTMLVideoElement | null} */ (document.getElementById('stage-video'));
const log = document.getElementById('captions-log');
const list = document.getElementById('captions-transcript');
const empty = document.getElementById('captions-empty');
const track = video ? video.addTextTrack('captions', text.track ?? 'Svenska', 'sv') : null;
if (track) track.mode = 'showing';
/** @type {VTTCue | null} */
let last = null;

/** @param {{id: number, text: string, at: string}} line */
function showOnVideo(line) {
  if (!track || !video) return;
  const place = placeCue(video.currentTime, liveDelaySeconds(), last);
  if (last && place.previousEnd !== null) last.endTime = place.previousEnd;
  last = new VTTCue(place.start, place.end, cueText(line.text));
  track.addCue(last);
  while (track.cues && track.cues.length > KEEP_LINES) track.removeCue(track.cues[0]);
}

/** @param {{id: number, text: string, at: string}} line */
function addToTranscript(line) {
  if (!list || list.querySelector(`[data-caption-id="${line.id}"]`)) return;
  const item = document.createElement('li');
  item.dataset.captionId = String(line.id);
  const time = document.createElement('time');
  time.dateTime = line.at;
  time.textContent = new Date(line.at).toLocaleTimeString('sv-SE', { hour: '2-digit', minute: '2-digit' });
  item.append(time, ' ', line.text);
  list.append(item);
  while (list.children.length > KEEP_LINES) list.firstElementChild?.remove();
  if (log) { log.hidden = false; log.scrollTop = log.scrollHeight; }
  if (empty) empty.hidden = true;
}

socket.on('captions.line', (/** @type {any} */ line) => { showOnVideo(line); addToTranscript(line); });
whenConnected(socket, async () => { (await request(socket, 'captions.recent')).lines.forEach(addToTranscript); });
