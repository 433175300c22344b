// @ts-check
/** The console panel: fill in the current deadline and the regions' status counts. */
const root = /** @type {HTMLElement|null} */ (document.querySelector('[data-event-slug]'));
const slug = root?.dataset.eventSlug ?? '';

async function refresh() {
  const res = await fetch(`/e/${encodeURIComponent(slug)}/feedback/state`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const state = await res.json();
  const input = /** @type {HTMLInputElement|null} */ (document.getElementById('fb-deadline'));
  if (input && state.deadline && !input.value) input.value = state.deadline;
  const line = document.getElementById('feedback-console-state');
  if (line) line.textContent = state.summary;
}
refresh();
