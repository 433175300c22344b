// @ts-check
/** Regional feedback over the wire: HTTP for saving (works without a socket), socket events
 * `feedback.watch`, `feedback.saved`, `feedback.status` for live updates. See docs/protocol/feedback.md. */
import { csrfToken, request } from './protocol.js';

/** @typedef {{status: string, version: number, updated_by: string, updated_at: string, submitted_at: string|null}} Saved */

/**
 * POST a JSON action (`draft`, `submit`, `reopen`) for a region.
 * Resolves to the stored response; rejects with an Error carrying `code`, `status`, `fields`, `details`.
 * @param {string} slug @param {string} region @param {'draft'|'submit'|'reopen'} action
 * @param {number} version @param {Record<string, unknown>} answers
 * @returns {Promise<Saved>}
 */
export async function act(slug, region, action, version, answers) {
  const res = await fetch(`/e/${encodeURIComponent(slug)}/feedback/regions/${encodeURIComponent(region)}/${action}`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    body: JSON.stringify({ version, answers }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.ok) return body;
  const err = body.error ?? {};
  throw Object.assign(new Error(err.message ?? `HTTP ${res.status}`),
    { code: err.code, status: res.status, fields: err.fields, details: err.details });
}

/** @typedef {Saved & {answers: Record<string, unknown>, locked: boolean}} Stored */

/**
 * The region's stored response with its answers (`status` is `not_started` before the first save).
 * @param {string} slug @param {string} region @returns {Promise<Stored>}
 */
export async function storedResponse(slug, region) {
  const res = await fetch(`/e/${encodeURIComponent(slug)}/feedback/regions/${encodeURIComponent(region)}/response`,
    { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
  return res.json();
}

/** @param {string} slug @param {string} region @param {string} theme @returns {Promise<string>} */
export async function themeNotes(slug, region, theme) {
  const res = await fetch(`/e/${encodeURIComponent(slug)}/feedback/regions/${encodeURIComponent(region)}/notes?theme=${encodeURIComponent(theme)}`,
    { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()).text ?? '';
}

/** Join a region's editors (region code) or KB's dashboard (null). @param {any} socket @param {string|null} region */
export function watch(socket, region) {
  return request(socket, 'feedback.watch', { region_code: region });
}
