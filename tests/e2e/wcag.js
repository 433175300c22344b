// What axe cannot see (issue 20): run in the page by tests/e2e/wcag.py, one function each.

function reflow() {
  const vw = document.documentElement.clientWidth;
  const found = [];
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 2).join('.');
    const text = (el.innerText || el.value || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    return text ? `${s} "${text}"` : s;
  };
  const hidden = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const st = getComputedStyle(e);
      if (st.display === 'none' || st.visibility === 'hidden') return true;
      if (st.clip === 'rect(0px, 0px, 0px, 0px)' || st.clipPath === 'inset(50%)') return true;
      if (e.classList.contains('visually-hidden') || e.classList.contains('skip-link')) return true;
    }
    return false;
  };
  // A region that scrolls sideways on its own (overflow-x auto/scroll) keeps what is inside it.
  const scroller = (el) => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      const st = getComputedStyle(e);
      if (st.overflowX === 'auto' || st.overflowX === 'scroll') return e;
    }
    return null;
  };
  const page = document.scrollingElement;
  if (page.scrollWidth > vw + 1) found.push(`the page scrolls sideways: ${page.scrollWidth} px wide in ${vw} px`);
  const seenScrollers = new Set();
  const cut = new Set();  // once an element is reported, its descendants are not
  const inCut = (el) => {
    for (let e = el.parentElement; e; e = e.parentElement) if (cut.has(e)) return true;
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'TEMPLATE', 'OPTION', 'BR'].includes(el.tagName)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (hidden(el)) continue;
    const box = scroller(el);
    if (box) {
      if (!seenScrollers.has(box) && box.scrollWidth > box.clientWidth + 1) {
        seenScrollers.add(box);
        const reachable = box.tabIndex >= 0 || box.querySelector('a[href], button, input, select, textarea, [tabindex]');
        const named = box.getAttribute('aria-label') || box.getAttribute('aria-labelledby');
        if (!reachable) found.push(`${name(box)} scrolls sideways but cannot be reached by keyboard`);
        if (!named) found.push(`${name(box)} scrolls sideways but has no name (aria-label)`);
      }
      const b = box.getBoundingClientRect();
      if ((b.right > vw + 1 || b.left < -1) && !inCut(box)) found.push(`${name(box)} (a scrolling region) is cut off: ${Math.round(b.left)}..${Math.round(b.right)} px`);
      continue;
    }
    if (r.right > vw + 1 || r.left < -1) {
      if (inCut(el)) continue;
      cut.add(el);
      let culprit = el;  // down to the innermost element that reaches as far
      for (;;) {
        const next = [...culprit.children].find((c) => !hidden(c)
          && Math.abs(c.getBoundingClientRect().right - culprit.getBoundingClientRect().right) < 2);
        if (!next) break;
        culprit = next;
      }
      const why = culprit === el ? '' : `, because of ${name(culprit)}`;
      found.push(`${name(el)} is cut off: ${Math.round(r.left)}..${Math.round(r.right)} px of ${vw}${why}`);
      continue;
    }
    const st = getComputedStyle(el);
    if ((st.overflowX === 'hidden' || st.overflowX === 'clip') && st.textOverflow !== 'ellipsis'
        && el.scrollWidth > el.clientWidth + 1
        && !['VIDEO', 'BODY', 'INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)) {
      found.push(`${name(el)} clips its content: ${el.scrollWidth} px in ${el.clientWidth}`);
    }
  }
  // Report each element once and not every descendant of one already reported.
  return [...new Set(found)].slice(0, 25);
}

function clippedText() {
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') continue;
    if (el.classList.contains('visually-hidden') || el.closest('.visually-hidden')) continue;
    const clipsY = st.overflowY === 'hidden' || st.overflowY === 'clip';
    if (clipsY && el.scrollHeight > el.clientHeight + 1 && el.innerText && el.innerText.trim()
        && el.tagName !== 'BODY') {
      found.push(`text clipped in ${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}: ` +
                 `${el.scrollHeight} px of text in ${el.clientHeight}`);
    }
  }
  return found.slice(0, 10);
}

function hoverRules() {
  // Rules that show content on :hover but not on :focus too (1.4.13 wants both, and
  // dismissable); colour and underline changes are fine.
  const found = [];
  const showing = /(display|visibility|opacity|max-height|transform|clip)/;
  for (const sheet of document.styleSheets) {
    let rules;
    try { rules = sheet.cssRules; } catch { continue; }
    for (const rule of rules) {
      if (!rule.selectorText || !rule.selectorText.includes(':hover')) continue;
      if (showing.test(rule.style.cssText)) found.push(`:hover shows content: ${rule.selectorText}`);
    }
  }
  return found;
}

function markFocusable() {
  const sel = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), '
    + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), '
    + 'summary, video[controls], audio[controls]';
  const radios = new Set();  // a group of radio buttons is one Tab stop (the arrows move in it)
  const list = [...document.querySelectorAll(sel)].filter((el) => {
    if (el.type === 'radio' && el.name) {
      const group = `${el.form ? [...document.forms].indexOf(el.form) : -1}/${el.name}`;
      if (radios.has(group)) return false;
      radios.add(group);
    }
    if (el.closest('[inert], [hidden], details:not([open]) > :not(summary)')) return false;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0 || el.classList.contains('skip-link');
  });
  const positive = list.filter((el) => el.tabIndex > 0).map((el) => el.outerHTML.slice(0, 60));
  list.forEach((el, i) => {
    const group = el.type === 'radio' && el.name
      ? [...(el.form || document).querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`)]
      : [el];
    group.forEach((member) => member.setAttribute('data-wcag-order', String(i)));
  });
  return {count: list.length, positive};
}

function focused() {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const order = el.getAttribute('data-wcag-order');
  const st = getComputedStyle(el);
  const outline = st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2;
  const shadow = st.boxShadow && st.boxShadow !== 'none';
  const r = el.getBoundingClientRect();
  let label = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
  const text = (el.innerText || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 30);
  if (text) label += ` "${text}"`;
  // Whether this stop comes before the last one in the page as it is now: a page may reorder
  // what the keyboard has not reached yet (a room's tiles) without moving anyone's focus back.
  const prev = window.__wcagPrev;
  const back = !!(prev && prev !== el && prev.isConnected
    && (el.compareDocumentPosition(prev) & Node.DOCUMENT_POSITION_FOLLOWING));
  // Back to the top from the page's last stop is Tab going round, not focus going back.
  const wrapped = back && ![...document.querySelectorAll('[data-wcag-order]')].some(
    (other) => prev.compareDocumentPosition(other) & Node.DOCUMENT_POSITION_FOLLOWING);
  window.__wcagPrev = el;
  return {order: order === null ? -1 : Number(order), visible: outline || shadow,
          onscreen: r.width > 0 && r.height > 0, label, back, wrapped};
}
