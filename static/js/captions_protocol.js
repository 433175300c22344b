// @ts-check
/** Live captions: the pure parts (no DOM), shared by the live page and the captioner's page. */

export const SHOW_SECONDS = 6;
export const KEEP_LINES = 200;

/** Plain text as WebVTT cue text: `&`, `<` and `>` would otherwise start entities and tags. */
export function cueText(/** @type {string} */ text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Where a new line's cue goes on the video's clock, and where the previous one must end.
 * @param {number} now the video's currentTime
 * @param {number} delay seconds the picture is behind live
 * @param {{startTime: number, endTime: number} | null} previous
 */
export function placeCue(now, delay, previous) {
  const start = now + delay;
  const previousEnd = previous && previous.endTime > start ? Math.max(previous.startTime, start) : null;
  return { start, end: start + SHOW_SECONDS, previousEnd };
}
