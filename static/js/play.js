// @ts-check
/** /play: chapter buttons seek the video and follow playback; HLS where MP4 cannot play. */

const video = /** @type {HTMLVideoElement|null} */ (document.getElementById('play-video'));
const buttons = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('#chapter-nav button')]);

for (const button of buttons) {
  button.addEventListener('click', () => {
    if (!video) return;
    video.currentTime = Number(button.dataset.start);
    video.play().catch(() => {});
    video.focus();
  });
}

/** Mark the chapter being played (aria-current), for sighted and screen-reader users alike. */
function follow() {
  if (!video) return;
  let current = -1;
  buttons.forEach((b, i) => { if (Number(b.dataset.start) <= video.currentTime + 0.01) current = i; });
  buttons.forEach((b, i) => b.setAttribute('aria-current', String(i === current)));
}
video?.addEventListener('timeupdate', follow);

/** If the browser refuses the MP4 (an old engine), try hls.js on the HLS rendition. */
video?.addEventListener('error', async () => {
  const root = /** @type {HTMLElement} */ (document.getElementById('play'));
  const { default: Hls } = await import('/static/vendor/hls.min.mjs');
  if (Hls.isSupported()) {
    const hls = new Hls();
    hls.loadSource(root.dataset.hls ?? '');
    hls.attachMedia(video);
  }
}, { once: true });
