// @ts-check
/**
 * Watching together in a room: one film, in sync for everyone. A leader (the room's
 * facilitator, a moderator) chooses the film and stops it; anyone in the room plays, pauses
 * and seeks with the player's own controls or the chapter buttons, and everyone follows. The
 * server keeps where the film is (a late joiner lands there); each player corrects its drift
 * against the state it was sent, every two seconds.
 */
import { errorMessage } from './errors.js';
import { fill, strings } from './i18n.js';
import { control, state as fetchState } from './watch_protocol.js';
import { socket } from './session.js';
import { h } from './ui.js';

const root = /** @type {HTMLElement} */ (document.getElementById('room'));
const panel = document.getElementById('room-watch');
const roomId = Number(root.dataset.roomId);
const text = strings('watch-i18n');
const DRIFT = 0.75; // seconds a player may be off before it is moved

if (panel) {
  const leader = /** @type {HTMLElement} */ (document.getElementById('watch-leader'));
  const films = /** @type {HTMLSelectElement} */ (document.getElementById('watch-film'));
  const startButton = /** @type {HTMLButtonElement} */ (document.getElementById('watch-start'));
  const stopButton = /** @type {HTMLButtonElement} */ (document.getElementById('watch-stop'));
  const idle = /** @type {HTMLElement} */ (document.getElementById('watch-idle'));
  const player = /** @type {HTMLElement} */ (document.getElementById('watch-player'));
  const title = /** @type {HTMLElement} */ (document.getElementById('watch-title'));
  const video = /** @type {HTMLVideoElement} */ (document.getElementById('watch-video'));
  const chapters = /** @type {HTMLElement} */ (document.getElementById('watch-chapters'));
  const resume = /** @type {HTMLButtonElement} */ (document.getElementById('watch-resume'));
  const status = /** @type {HTMLElement} */ (document.getElementById('watch-status'));

  /** What the server last said: the film's time at `at` (performance.now()), playing or not. */
  let base = { position: 0, playing: false, at: 0 };
  let media = '';
  /** The player events this page caused by following the room (not the person's own): each
   * is expected once and then forgotten. */
  const expected = { play: false, pause: false, seeked: false };
  /** @param {'play' | 'pause' | 'seeked'} kind */
  const ours = (kind) => { const was = expected[kind]; expected[kind] = false; return was; };

  const target = () => base.position + (base.playing ? (performance.now() - base.at) / 1000 : 0);

  /** @param {string} src */
  function load(src) {
    media = src;
    video.replaceChildren(
      h('track', { kind: 'chapters', src: `${src}chapters.vtt`, srclang: 'sv', label: text.chapters, default: '' }),
      h('track', { kind: 'captions', src: `${src}captions.sv.vtt`, srclang: 'sv', label: 'Svenska' }),
    );
    video.src = `${src}video.mp4`;
    chapters.replaceChildren();
    const track = /** @type {HTMLTrackElement} */ (video.querySelector('track[kind="chapters"]'));
    track.track.mode = 'hidden'; // loaded (for the buttons), not drawn
    track.addEventListener('load', () => showChapters(track));
  }

  /** @param {HTMLTrackElement} track */
  function showChapters(track) {
    const cues = Array.from(track.track.cues ?? []);
    chapters.replaceChildren(...cues.map((cue) => h('li', {}, [
      h('button', { type: 'button', class: 'secondary small', 'data-start': String(cue.startTime) },
        [`${clock(cue.startTime)} ${/** @type {VTTCue} */ (cue).text}`]),
    ])));
  }

  /** @param {number} seconds */
  function clock(seconds) {
    const s = Math.floor(seconds);
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  /** @param {import('./watch_protocol.js').State} s */
  async function apply(s) {
    if (!s.active) {
      base = { position: 0, playing: false, at: performance.now() };
      player.hidden = true; idle.hidden = false; stopButton.hidden = true;
      if (media) { video.pause(); video.removeAttribute('src'); video.load(); media = ''; }
      return;
    }
    base = { position: s.position ?? 0, playing: Boolean(s.playing), at: performance.now() };
    player.hidden = false; idle.hidden = true; stopButton.hidden = false;
    title.textContent = s.title ?? '';
    if (s.media && s.media !== media) load(s.media);
    status.textContent = s.by ? fill(s.playing ? text.playing_by : text.paused_by, { name: s.by }) : '';
    await follow();
  }

  /** Move this player to where the room is. */
  async function follow() {
    if (!media) return;
    if (Math.abs(video.currentTime - target()) > DRIFT) {
      expected.seeked = true;
      video.currentTime = target();
    }
    if (base.playing && video.paused) {
      expected.play = true;
      try { await video.play(); resume.hidden = true; } catch { expected.play = false; resume.hidden = false; }
    } else if (!base.playing && !video.paused) { expected.pause = true; video.pause(); }
  }

  /** @param {import('./watch_protocol.js').Action} action @param {{publication_id?: number, position?: number}} [extra] */
  async function send(action, extra) {
    try {
      const { state: s } = await control(socket, roomId, action, extra);
      await apply(s);
    } catch (err) { status.textContent = errorMessage(err); }
  }

  video.addEventListener('play', () => { if (!ours('play') && !base.playing) send('play', { position: video.currentTime }); });
  video.addEventListener('pause', () => { if (!ours('pause') && base.playing && !video.ended) send('pause', { position: video.currentTime }); });
  video.addEventListener('seeked', () => {
    if (!ours('seeked') && Math.abs(video.currentTime - target()) > DRIFT) send('seek', { position: video.currentTime });
  });
  chapters.addEventListener('click', (ev) => {
    const button = /** @type {HTMLElement} */ (ev.target).closest('button');
    if (button) send('seek', { position: Number(button.dataset.start) });
  });
  resume.addEventListener('click', () => { resume.hidden = true; follow(); });
  startButton.addEventListener('click', () => send('start', { publication_id: Number(films.value) }));
  stopButton.addEventListener('click', () => send('stop'));
  setInterval(() => { if (base.playing) follow(); }, 2000);

  socket.on('watch.state', (/** @type {import('./watch_protocol.js').State} */ s) => {
    if (s.room_id === roomId) apply(s);
  });
  document.addEventListener('room:entered', async () => {
    try {
      const answer = await fetchState(socket, roomId);
      if (answer.leads && answer.films.length) {
        films.replaceChildren(...answer.films.map((f) => h('option', { value: String(f.id) }, [f.title])));
        leader.hidden = false;
      }
      await apply(answer.state);
    } catch (err) { status.textContent = errorMessage(err); }
  });
}
