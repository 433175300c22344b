// @ts-check
/** A form sent back with errors: move focus to its error summary, so a screen reader reads it
 * and a keyboard user starts there (WCAG 3.3.1). A module of its own: the pages allow no
 * inline script (Content-Security-Policy). */
document.getElementById('form-errors')?.focus();
