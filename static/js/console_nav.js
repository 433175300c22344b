// @ts-check
/**
 * The moderator console's panels, linked from its top (issue 20): on a phone the console is
 * one long column (a moderator walks the venue with one), so each panel is one tap away. The
 * panels come from every feature (its _console_panel.html template); each is a section named
 * by its heading, and that heading is what the link says and where it leads.
 */
import { strings } from './i18n.js';

const grid = document.querySelector('.console-grid');
if (grid) {
  const nav = document.createElement('nav');
  nav.className = 'jump-nav';
  nav.setAttribute('aria-label', strings('console-nav-strings').label || '');
  const list = document.createElement('ul');
  for (const section of grid.querySelectorAll(':scope > section[aria-labelledby]')) {
    const heading = document.getElementById(section.getAttribute('aria-labelledby') || '');
    if (!heading) continue;
    const link = document.createElement('a');
    link.href = `#${heading.id}`;
    link.textContent = (heading.textContent || '').trim();
    const item = document.createElement('li');
    item.append(link);
    list.append(item);
  }
  nav.append(list);
  grid.before(nav);
}
