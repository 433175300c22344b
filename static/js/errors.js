// @ts-check
/**
 * Errors from the server, readable: `errorMessage(error)` finds the error's code in the page's
 * catalogue (`<script id="error-strings">` in base.html, in the page's language) and fills in
 * its details; else the server's own message; else a generic one.
 */
import { fill, strings } from './i18n.js';

/** @typedef {import('./protocol.js').WireError} WireError */

/** When the page carries no catalogue at all, by `<html lang>`. */
const GENERIC = { sv: 'Något gick fel. Försök igen.', en: 'Something went wrong. Please try again.' };

/** @type {Record<string, string> | null} */
let catalogue = null;

const entries = () => (catalogue ??= strings('error-strings'));

/**
 * The text a reader sees for `error`: a thrown ServerError or WebcastError, a wire error
 * `{code, message, details}`, an ack `{ok: false, error}` or an HTTP body `{error}`.
 * @param {unknown} error
 * @returns {string}
 */
export function errorMessage(error) {
  const e = unwrap(error);
  const text = lookup(e);
  if (text) return fill(text, e.details ?? {});
  return e.message || generic();
}

/** @param {unknown} error @returns {Partial<WireError>} */
function unwrap(error) {
  if (!error || typeof error !== 'object') return { message: typeof error === 'string' ? error : '' };
  const inner = /** @type {{error?: unknown}} */ (error).error;
  return inner && typeof inner === 'object' ? /** @type {Partial<WireError>} */ (inner) : error;
}

/**
 * The catalogue's text for the error's key, else for its code. A code that has keyed variants
 * (`auth.forbidden.polls`) is ambiguous without the key: the server's message, written for
 * that raise site in the reader's language, says more than the code's general text.
 * @param {Partial<WireError>} e
 */
function lookup(e) {
  const all = entries();
  if (e.key && all[e.key]) return all[e.key];
  if (!e.code || !all[e.code]) return null;
  const variants = e.message && Object.keys(all).some((k) => k.startsWith(`${e.code}.`));
  return variants ? null : all[e.code];
}

function generic() {
  const lang = document.documentElement.lang === 'en' ? 'en' : 'sv';
  return entries()['server.error'] ?? GENERIC[lang];
}
