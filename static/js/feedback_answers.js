// @ts-check
/** Comparing a region's answers as the server stores them (pure, no DOM): the autosave script
 * asks after a `feedback.conflict` whether the stored version is one this page sent itself. */

/** @typedef {Record<string, unknown>} Answers */

/**
 * The answers as the server keeps a draft: text trimmed, ratings and choices as strings, empty
 * values left out, multiple choices as a sorted list (order does not matter).
 * @param {Answers|null|undefined} answers
 * @returns {Record<string, string|string[]>}
 */
export function normalise(answers) {
  /** @type {Record<string, string|string[]>} */
  const out = {};
  for (const [key, value] of Object.entries(answers ?? {})) {
    if (Array.isArray(value)) {
      const list = value.map((v) => String(v ?? '').trim()).filter((v) => v !== '').sort();
      if (list.length) out[key] = list;
    } else {
      const text = String(value ?? '').trim();
      if (text !== '') out[key] = text;
    }
  }
  return out;
}

/**
 * Whether two sets of answers store the same.
 * @param {Answers|null|undefined} a @param {Answers|null|undefined} b
 */
export function sameAnswers(a, b) {
  const x = normalise(a);
  const y = normalise(b);
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const key of keys) {
    if (JSON.stringify(x[key] ?? null) !== JSON.stringify(y[key] ?? null)) return false;
  }
  return true;
}

/**
 * What to do after a `feedback.conflict` (or a newer `feedback.saved`), given the stored
 * response: `adopt` its version when it holds something this page sent (a save whose reply was
 * lost) or exactly what the page shows; `closed` when it can no longer change; else `conflict`.
 * @param {{status: string, locked?: boolean, answers: Answers}} stored
 * @param {Answers[]} sent answers this page sent since its last confirmed save
 * @param {Answers} current what the page shows now
 * @returns {'adopt'|'closed'|'conflict'}
 */
export function afterConflict(stored, sent, current) {
  if (stored.status === 'submitted' || stored.locked) return 'closed';
  if (sameAnswers(stored.answers, current) || sent.some((a) => sameAnswers(stored.answers, a))) return 'adopt';
  return 'conflict';
}
