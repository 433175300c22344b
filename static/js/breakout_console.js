// @ts-check
/**
 * Moderator console, breakout rooms: plan (three groupings, facilitators, rooms without media),
 * preview, templates, open; then timer, broadcast, moves, visits and "close all rooms".
 */
import { whenConnected } from './protocol.js';
import { errorMessage } from './errors.js';
import { fill, strings } from './i18n.js';
import * as bp from './breakout_protocol.js';
import { slug, socket } from './session.js';
import { announce, h } from './ui.js';

const s = strings('breakout-i18n');
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const status = (/** @type {string} */ text) => { $('breakout-status').textContent = text; };
const fail = (/** @type {unknown} */ err) => status(errorMessage(err));

/** @type {{code: string, name: string}[]} */
let regions = [];
/** @type {Record<string, number>} */
let facilitators = {};
/** @type {Set<string>} */
let withoutMedia = new Set();
let previewed = false;
let groupSeq = 0;
/** @type {any[]} */
let templateList = [];

// ----------------------------------------------------------------- the plan form

function strategy() {
  return /** @type {HTMLInputElement} */ (document.querySelector('input[name="strategy"]:checked')).value;
}

function showStrategyFields() {
  $('breakout-custom').hidden = strategy() !== 'custom';
  $('breakout-count-field').hidden = strategy() !== 'balanced';
  if (strategy() === 'custom' && !$('breakout-groups').children.length) addGroup();
}

/** @param {string} [name] @param {string[]} [codes] */
function addGroup(name = '', codes = []) {
  const n = ++groupSeq;
  const label = name || `${s.group_name} ${n}`;
  const boxes = regions.map((r) => {
    const id = `breakout-g${n}-${r.code}`;
    const box = h('input', { type: 'checkbox', id, value: r.code });
    /** @type {HTMLInputElement} */ (box).checked = codes.includes(r.code);
    return h('div', {}, [box, ' ', h('label', { for: id, style: 'display:inline' }, [r.name])]);
  });
  const nameInput = h('input', { id: `breakout-g${n}-name`, class: 'group-name', maxlength: '120' });
  /** @type {HTMLInputElement} */ (nameInput).value = label;
  const remove = h('button', { type: 'button', class: 'small secondary' }, [s.remove_group]);
  const group = h('fieldset', { class: 'group' }, [
    h('legend', {}, [fill(s.group_regions, { name: label })]),
    h('div', { class: 'field' }, [h('label', { for: `breakout-g${n}-name` }, [s.group_name]), nameInput]),
    h('div', { class: 'regions-grid' }, boxes), remove,
  ]);
  remove.addEventListener('click', () => group.remove());
  $('breakout-groups').append(group);
}

function numberOrNull(/** @type {string} */ id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

function grouping() {
  const groups = [...$('breakout-groups').querySelectorAll('fieldset.group')].map((g) => ({
    name: g.querySelector('.group-name').value.trim(),
    regions: [...g.querySelectorAll('input[type=checkbox]:checked')].map((b) => b.value),
  }));
  return {
    strategy: strategy(), groups: strategy() === 'custom' ? groups : [],
    room_count: strategy() === 'balanced' ? numberOrNull('breakout-room-count') : null,
    max_room_size: numberOrNull('breakout-max-size'),
    include_moderators: $('breakout-include-moderators').checked,
  };
}

function plan() {
  return { grouping: grouping(), facilitators, without_media: [...withoutMedia] };
}

/** @param {any} g */
function fillForm(g) {
  /** @type {HTMLInputElement} */ (document.getElementById(`breakout-strategy-${g.strategy}`)).checked = true;
  $('breakout-groups').replaceChildren();
  (g.groups ?? []).forEach((/** @type {any} */ gr) => addGroup(gr.name, gr.regions));
  if (g.room_count) $('breakout-room-count').value = g.room_count;
  $('breakout-max-size').value = g.max_room_size ?? '';
  $('breakout-include-moderators').checked = Boolean(g.include_moderators);
  withoutMedia = new Set(g.without_media ?? []);
  facilitators = {};
  showStrategyFields();
}

// ----------------------------------------------------------------- the preview

/** @param {any} room */
function facilitatorSelect(room) {
  const select = h('select', { id: `breakout-fac-${room.key}`, 'aria-label': fill(s.facilitator_for, { name: room.name }) },
    [h('option', { value: '' }, [s.none])]);
  for (const m of room.members.filter((/** @type {any} */ m) => !m.staff)) {
    const opt = h('option', { value: m.id.slice(1) }, [m.name]);
    if (room.facilitator?.id === m.id) opt.setAttribute('selected', '');
    select.append(opt);
  }
  select.addEventListener('change', () => {
    const v = /** @type {HTMLSelectElement} */ (select).value;
    if (v) facilitators[room.key] = Number(v); else delete facilitators[room.key];
    runPreview();
  });
  return select;
}

/** @param {any} room */
function mediaBox(room) {
  const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: `breakout-nomedia-${room.key}`,
    'aria-label': fill(s.without_media_for, { name: room.name }) }));
  box.checked = !room.media;
  box.addEventListener('change', () => { if (box.checked) withoutMedia.add(room.key); else withoutMedia.delete(room.key); });
  return box;
}

/** @param {any} p */
function renderPreview(p) {
  const body = $('breakout-preview-table').querySelector('tbody');
  body.replaceChildren(...p.rooms.map((/** @type {any} */ r) => h('tr', { 'data-room-key': r.key }, [
    h('th', { scope: 'row' }, [r.name, r.regions.length > 1 ? ` (${r.regions.join(', ')})` : '']),
    h('td', {}, [String(r.count)]), h('td', {}, [String(r.on_site)]),
    h('td', {}, [facilitatorSelect(r)]), h('td', {}, [mediaBox(r)]),
  ])));
  $('breakout-preview-table').hidden = false;
  $('breakout-totals').textContent = fill(s.totals, p.totals);
  const unplaced = $('breakout-unplaced');
  unplaced.hidden = !p.unplaced.length;
  unplaced.querySelector('ul').replaceChildren(...p.unplaced.map((/** @type {any} */ u) =>
    h('li', {}, [`${u.name}${u.region ? ` (${u.region})` : ''}: ${s[`reason.${u.reason}`] ?? u.reason}`])));
  $('breakout-preview-actions').hidden = false;
  $('breakout-template-form').hidden = false;
}

async function runPreview() {
  try {
    const first = !previewed;
    const answer = await bp.preview(socket, plan());
    if (first) {  // suggest "without media" for rooms where everyone is on site
      answer.preview.rooms.filter((/** @type {any} */ r) => r.all_on_site).forEach((/** @type {any} */ r) => { withoutMedia.add(r.key); r.media = false; });
    }
    previewed = true;
    renderPreview(answer.preview);
    status('');
  } catch (err) { fail(err); }
}

// ----------------------------------------------------------------- the open round

/** @param {bp.StaffView} view the answer of breakout.state (moderator view) */
function renderRunning(view) {
  const open = view.round?.status === 'open';
  $('breakout-running').hidden = !open;
  $('breakout-plan-form').hidden = open;
  $('breakout-preview').hidden = open;
  if (!open) return;
  $('breakout-ends-at').textContent = new Date(view.round?.ends_at ?? 0).toLocaleTimeString('sv-SE', { hour: '2-digit', minute: '2-digit' });
  const rooms = view.rooms ?? [];
  $('breakout-rooms').replaceChildren(...rooms.map((r) => h('li', {}, [
    h('a', { href: bp.roomUrl(slug, r.id) }, [fill(s.visit, { name: r.name })]),
    ` (${r.members.length})${r.id === view.staff_room ? ` – ${fill(s.your_room, { name: r.name })}` : ''}: `,
    r.members.map((m) => m.name).join(', '),
  ])));
  const people = rooms.flatMap((r) => r.members.map((m) => ({ ...m, room: r.name })))
    .sort((a, b) => a.name.localeCompare(b.name, 'sv'));
  $('breakout-move-who').replaceChildren(...people.map((m) => h('option', { value: String(m.id) }, [`${m.name} (${m.room})`])));
  $('breakout-move-to').replaceChildren(...rooms.map((r) => h('option', { value: String(r.id) }, [r.name])));
}

async function refresh() {
  try { renderRunning(await bp.state(socket)); } catch (err) { fail(err); }
}

async function loadTemplates() {
  try {
    templateList = (await bp.templates(socket)).templates;
    const select = $('breakout-template');
    select.replaceChildren(select.options[0], ...templateList.map((t) => h('option', { value: String(t.id) }, [t.name])));
  } catch (err) { fail(err); }
}

// ----------------------------------------------------------------- wiring

async function start() {
  regions = await fetch('/api/regions').then((r) => r.json()).then((d) => d.regions ?? d).catch(() => []);
  document.querySelectorAll('input[name="strategy"]').forEach((el) => el.addEventListener('change', showStrategyFields));
  $('breakout-add-group').addEventListener('click', () => addGroup());
  $('breakout-plan-form').addEventListener('submit', (/** @type {Event} */ ev) => { ev.preventDefault(); runPreview(); });
  $('breakout-open').addEventListener('click', async () => {
    try {
      const answer = await bp.openRound(socket, { ...plan(), minutes: Number($('breakout-minutes').value || 30) });
      announce(fill(s.opened, { count: answer.assigned }));
      await refresh();
    } catch (err) { fail(err); }
  });
  $('breakout-template-load').addEventListener('click', () => {
    const t = templateList.find((x) => String(x.id) === $('breakout-template').value);
    if (t) { fillForm(t.grouping); previewed = true; runPreview(); }
  });
  $('breakout-template-form').addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    try {
      await bp.saveTemplate(socket, { ...plan(), name: $('breakout-template-name').value });
      status(s.saved);
      await loadTemplates();
    } catch (err) { fail(err); }
  });
  $('breakout-extend-form').addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    try { await bp.extend(socket, Number($('breakout-extend-minutes').value)); await refresh(); } catch (err) { fail(err); }
  });
  $('breakout-broadcast-form').addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    try { await bp.broadcast(socket, $('breakout-broadcast-text').value); $('breakout-broadcast-text').value = ''; } catch (err) { fail(err); }
  });
  $('breakout-move-form').addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    const who = $('breakout-move-who');
    try {
      const answer = await bp.move(socket, Number(who.value), Number($('breakout-move-to').value));
      status(fill(s.moved, { name: who.selectedOptions[0]?.textContent ?? '', room: answer.room.name }));
    } catch (err) { fail(err); }
  });
  $('breakout-close').addEventListener('click', async () => {
    try { await bp.closeAll(socket); announce(s.closed); await refresh(); } catch (err) { fail(err); }
  });
  showStrategyFields();
}

whenConnected(socket, () => { refresh(); loadTemplates(); });
socket.on('breakout.rooms', (view) => renderRunning(view));
socket.on('breakout.timer', () => refresh());
start();
