// @ts-check
/**
 * The page's texts: each template writes a feature's strings, in the reader's language, as a
 * `<script type="application/json">` block; modules read them here instead of parsing it themselves.
 */

/**
 * A block's strings, by its id or the element itself; {} when the page has none.
 * @param {string | Element | null} [source] default `i18n`, the connection strings
 *   (templates/_socket_strings.html)
 * @returns {Record<string, string>}
 */
export function strings(source = 'i18n') {
  const el = typeof source === 'string' ? document.getElementById(source) : source;
  return JSON.parse(el?.textContent || '{}');
}

/**
 * `template` with each `{name}` replaced by its value.
 * @param {string} template @param {Record<string, unknown>} values
 */
export const fill = (template, values) =>
  Object.entries(values).reduce((text, [k, v]) => text.replace(`{${k}}`, String(v)), template ?? '');
