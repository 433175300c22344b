"""Real headless Chromium (Debian's, driven by Playwright) against a live server."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
# A 2-core machine running three browsers and a media server is slow, not wrong: wait longer
# for the page to reach the state a test expects (this is a ceiling, never a timing assert).
expect.set_options(timeout=15_000)

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30",
    "--autoplay-policy=no-user-gesture-required",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs in its module's event loop, the one the module's Chromium lives in."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.asyncio(loop_scope="module"), append=False)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    """One Chromium process per module: launching it is a second or two of a 2-core machine."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The module's Chromium; every profile (context) a test opened is closed after it, so no
    page of one test is still connected during the next."""
    yield chromium
    for context in chromium.contexts:
        await context.close()


CSP_REFUSALS: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()
"""What the Content-Security-Policy refused on each page (checked with axe on every page)."""


async def new_page(browser: Browser, base_url: str, **context: Any) -> Page:
    ctx = await browser.new_context(base_url=base_url, locale="sv-SE", **context)
    page = await ctx.new_page()
    page.on("dialog", lambda d: pytest.fail(f"unexpected dialog: {d.message}"))
    refused = CSP_REFUSALS.setdefault(page, [])
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    return page


async def axe_violations(
    page: Page, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[Any]:
    """axe-core's WCAG 2.1 A/AA rules on the page as it is now; violations of those impacts."""
    await page.add_script_tag(url="/static/vendor/axe.min.js")  # CSP: scripts from us only
    result = await page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in impacts
    ]


async def axe_check(page: Page) -> None:
    violations = await axe_violations(page)
    assert violations == [], f"axe found on {page.url}: {violations}"
    assert CSP_REFUSALS.get(page, []) == [], "the page broke its own Content-Security-Policy"


async def login(page: Page, username: str, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Användarnamn").fill(username)
    await page.get_by_label("Lösenord").fill(password)
    await page.get_by_role("button", name="Logga in").click()
    await page.wait_for_load_state()
