"""What axe-core cannot see, checked in the real browser (issue 20).

axe judges markup; these judge layout and keyboard use, page by page:

- reflow (WCAG 2.1 SC 1.4.10): at 320-414 CSS px (a phone, or 400 % zoom of a 1280 px window)
  the page does not scroll sideways and no element sticks out of the viewport, except inside a
  region that scrolls on its own (a wide table), which must then be reachable by keyboard and
  named; text is not clipped by a box too small for it;
- text spacing (1.4.12): with line height 1.5, paragraph spacing 2, letter spacing 0.12 and word
  spacing 0.16 times the font size, still no overflow and no clipped text;
- resize text (1.4.4): at 200 % text size (the page at half the width, as browser zoom does)
  likewise;
- orientation (1.3.4): the page works in portrait and landscape (nothing hidden in either);
- content on hover or focus (1.4.13): no style sheet shows other content on hover alone;
- focus (2.4.3, 2.4.7, 2.1.2): Tab reaches every focusable element in document order, each
  with a visible indicator, and Tab from the last one leaves the page's content (no trap).

`problems_at(page, width)` and friends return a list of findings in words (empty when all
holds), so one test can walk every page at every width and report everything at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

PHONE_WIDTHS = (320, 360, 390, 414)
"""CSS px: the narrowest phones, common ones, and what 400 % zoom of 1280 px leaves."""
SAME_ELEMENT_STOPS = 8
"""Tab stops in a row on one element before it counts as a trap (a date and time field has 5)."""

SCRIPT = (Path(__file__).with_name("wcag.js")).read_text()
"""The checks that run in the page (one function each; a finding names the element the way a
person would find it)."""


def _call(name: str) -> str:
    return f"() => {{\n{SCRIPT}\nreturn {name}();\n}}"


_TEXT_SPACING_CSS = """
* { line-height: 1.5 !important; letter-spacing: 0.12em !important;
    word-spacing: 0.16em !important; }
p { margin-bottom: 2em !important; }
"""






async def reflow_problems(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(_call("reflow"))
    return found


async def text_spacing_problems(page: Page) -> list[str]:
    """With WCAG's text spacing applied (the bookmarklet's values), nothing overflows or clips."""
    await page.add_style_tag(content=_TEXT_SPACING_CSS)
    found: list[str] = await page.evaluate(_call("reflow"))
    found += await page.evaluate(_call("clippedText"))
    return found


async def hover_problems(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(_call("hoverRules"))
    return found


async def focus_problems(page: Page, limit: int = 150) -> list[str]:
    """Tab through the page from the top: every focusable element is reached, in document order,
    each with a visible indicator, and Tab from the last one leaves the page (no trap). One
    element may hold several stops (a date field's parts, a video's own buttons)."""
    info: dict[str, Any] = await page.evaluate(_call("markFocusable"))
    found = [f"positive tabindex changes the order: {p}" for p in info["positive"]]
    count = min(int(info["count"]), limit)
    # Start from the top of the page: Chromium goes on from the last focused element (an
    # autofocused field, say), so focus a stand-in placed first that Tab itself never stops at.
    await page.evaluate("""() => {
      const start = document.createElement('span');
      start.id = 'wcag-start'; start.tabIndex = -1;
      document.body.prepend(start); start.focus(); window.scrollTo(0, 0);
      window.__wcagPrev = null;
    }""")
    reached: set[int] = set()
    last, at, same = -1, None, 0
    for _ in range(count * 3 + 10):
        await page.keyboard.press("Tab")
        now = await page.evaluate(_call("focused"))
        if now is None:  # out of the page's content, to the browser's own controls
            break
        # One element is its survey order (a group of checkboxes shares a name, not an order).
        here = (now["order"], now["label"])
        same = same + 1 if here == at else 0
        at, label = here, now["label"]
        if same >= SAME_ELEMENT_STOPS:
            found.append(f"keyboard trap: Tab stays on {label}")
            break
        order = now["order"]
        if order < 0:  # not there when the page was surveyed (shown since): no order to judge
            continue
        if not now["visible"]:
            found.append(f"focus is not visible on {label}")
        if now["wrapped"]:  # past the end and round to the top again
            break
        if now["back"]:
            found.append(f"focus went back to {label} (stop {order} after {last})")
        reached.add(order)
        last = max(last, order)
    if len(reached) < count:
        found.append(f"Tab reached {len(reached)} of {count} focusable elements")
    return list(dict.fromkeys(found))[:20]


async def problems_at(page: Page, path: str, width: int, height: int = 720) -> list[str]:
    """Load `path` at `width` CSS px and list what does not reflow."""
    await load(page, path, width, height)
    return await reflow_problems(page)


MISSING_PAGE = "/sidan-finns-inte"


async def load(page: Page, path: str, width: int | None = None, height: int = 720) -> None:
    """Open `path` (in a window `width` CSS px wide, when given) once it has settled."""
    if width is not None:
        await page.set_viewport_size({"width": width, "height": height})
    response = await page.goto(path)
    if response is None:  # the page was still moving on by itself (a redirect in script): again
        await page.wait_for_load_state("networkidle")
        response = await page.goto(path)
    assert response is not None, path
    # Every listed page is shown to its reader (a 403 would check the error page instead),
    # except the one that is there to be missing.
    expected_missing = path == MISSING_PAGE
    assert (response.status == 404) if expected_missing else response.status < 400, (
        f"{path}: {response.status}")
    await page.wait_for_load_state("networkidle")
    # Pages fill themselves over their socket: wait until nothing is said to be loading.
    await page.wait_for_function(
        "() => !document.querySelector('[aria-busy=\"true\"]')", timeout=10_000)
