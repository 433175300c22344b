"""The keyboard check every page goes through (tests/e2e/wcag.py) can fail, and fails only for
what a keyboard user would notice: focus thrown back up the page, not a page that reorders what
the keyboard has not reached yet (a breakout room's video tiles when someone starts speaking)."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.e2e.wcag import focus_problems

BUTTONS = """<!doctype html><html lang="sv"><head><title>Prov</title>
<style>button:focus { outline: 3px solid #000; }</style></head>
<body><main><h1>Prov</h1><div id="tiles"><button id="a">A</button><button id="b">B</button>
<button id="c">C</button></div></main></body></html>"""


async def page_with(browser: Browser, script: str):
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.set_content(BUTTONS)
    await page.evaluate(script)
    return page


async def test_focus_thrown_back_up_the_page_is_found(browser: Browser) -> None:
    page = await page_with(browser, """() => {
      let once = true;
      document.getElementById('c').addEventListener('focus', () => {
        if (once) { once = false; document.getElementById('a').focus(); }
      });
    }""")
    found = await focus_problems(page)
    assert any("focus went back" in f and '"A"' in f for f in found), found


async def test_reordering_what_the_keyboard_has_not_reached_is_not_a_fault(
    browser: Browser,
) -> None:
    # B moves after C while the keyboard is on A: Tab then reaches C before B, each once, in
    # the order the page has when the key is pressed.
    page = await page_with(browser, """() => {
      document.getElementById('a').addEventListener('focus', () => {
        const tiles = document.getElementById('tiles');
        tiles.append(document.getElementById('b'));
      });
    }""")
    assert await focus_problems(page) == []
