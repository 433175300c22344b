// @ts-check
/**
 * The live page on a phone (issue 20): the stage stays on top and the panels beside it on a
 * desktop (questions, poll, captions, room, feedback) become tabs under it, so each is one tap
 * away instead of a long scroll. WAI-ARIA tabs pattern: a tablist of buttons with
 * aria-selected and a roving tabindex (arrow keys, Home, End move between tabs; Tab goes on
 * into the panel), each panel a tabpanel labelled by its tab.
 *
 * Panels come and go on their own (a poll opens, a breakout round starts): a panel that is
 * `hidden` has no tab, and one that appears or changes while another tab is chosen marks its
 * tab "new" (said to screen readers too) until it is opened. Wider than `NARROW`, nothing of
 * this is left: the panels stand side by side as before.
 */
import { strings } from './i18n.js';

const NARROW = '(max-width: 48rem)';
const REMEMBER = 'traffpunkt.live-tab';

/** @param {HTMLElement} side */
export function phoneTabs(side) {
  const s = strings('live-tabs-strings');
  const panels = /** @type {HTMLElement[]} */ ([...side.children].filter((el) => el.matches('section[id]')));
  if (panels.length < 2) return;
  const list = document.createElement('div');
  list.className = 'live-tabs';
  list.setAttribute('role', 'tablist');
  list.setAttribute('aria-label', s.label || '');
  /** @type {Map<HTMLElement, HTMLButtonElement>} */
  const tabs = new Map();
  for (const panel of panels) {
    const heading = panel.querySelector('h2');
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.id = `tab-${panel.id}`;
    tab.className = 'live-tab';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', panel.id);
    const name = document.createElement('span');
    name.textContent = (heading?.textContent || panel.id).trim();
    const flag = document.createElement('span');
    flag.className = 'live-tab-new';
    flag.hidden = true;
    flag.textContent = s.new || '';
    tab.append(name, ' ', flag);
    tab.addEventListener('click', () => choose(panel, true));
    tabs.set(panel, tab);
    list.append(tab);
  }
  const media = window.matchMedia(NARROW);
  /** @type {HTMLElement | null} */
  let chosen = null;
  let tabbed = false;

  const visible = () => panels.filter((p) => !p.hidden);

  /** @param {HTMLElement} panel @param {boolean} [focus] */
  function choose(panel, focus = false) {
    chosen = panel;
    try { sessionStorage.setItem(REMEMBER, panel.id); } catch { /* private mode */ }
    for (const [p, tab] of tabs) {
      const on = p === panel;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      p.classList.toggle('tab-hidden', tabbed && !on);
      if (on) /** @type {HTMLElement} */ (tab.querySelector('.live-tab-new')).hidden = true;
    }
    if (focus) tabs.get(panel)?.focus();
  }

  function sync() {
    for (const [p, tab] of tabs) tab.hidden = p.hidden;
    const shown = visible();
    if (!chosen || chosen.hidden) {
      let remembered = null;
      try { remembered = sessionStorage.getItem(REMEMBER); } catch { /* private mode */ }
      choose(shown.find((p) => p.id === remembered) || shown[0] || panels[0]);
    }
  }

  function apply() {
    tabbed = media.matches;
    side.classList.toggle('tabbed', tabbed);
    if (tabbed) {
      side.prepend(list);
      for (const [p, tab] of tabs) {
        p.setAttribute('role', 'tabpanel');
        p.dataset.labelledby = p.getAttribute('aria-labelledby') || '';
        p.setAttribute('aria-labelledby', tab.id);
      }
      sync();
      if (chosen) choose(chosen);
    } else {
      list.remove();
      for (const p of panels) {
        p.removeAttribute('role');
        if (p.dataset.labelledby) p.setAttribute('aria-labelledby', p.dataset.labelledby);
        p.classList.remove('tab-hidden');
      }
    }
  }

  list.addEventListener('keydown', (event) => {
    const shown = visible();
    const at = chosen ? shown.indexOf(chosen) : 0;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 }[event.key];
    if (to === undefined || !shown.length) return;
    event.preventDefault();
    choose(shown[(to + shown.length) % shown.length], true);
  });

  // A panel shown, or new content in one that is not chosen, marks its tab.
  const watch = new MutationObserver((records) => {
    if (!tabbed) return;
    const touched = new Set();
    for (const r of records) {
      const panel = panels.find((p) => p === r.target || p.contains(r.target));
      if (panel) touched.add(panel);
    }
    sync();
    for (const panel of touched) {
      if (panel !== chosen && !panel.hidden && panel.dataset.tabAttention !== 'off') {
        /** @type {HTMLElement} */ (tabs.get(panel)?.querySelector('.live-tab-new')).hidden = false;
      }
    }
  });
  for (const panel of panels) {
    watch.observe(panel, { attributes: true, attributeFilter: ['hidden'], childList: true, subtree: true });
  }
  media.addEventListener('change', apply);
  apply();
}

const side = document.getElementById('side');
if (side) phoneTabs(side);
