"""Screenshots of the live page and the moderator console at 360 and 1280 px (issue 20).

Run with no arguments (`.venv/bin/python scripts/screenshots.py`): a fresh PostgreSQL database
`screenshots` with the demo event as tests/e2e/test_reflow_e2e.py seeds it (long, unbroken text
in every field), one `traffpunkt serve`, Debian's Chromium; the pictures go to
docs/screenshots/ (the first screen at each width, and the whole page at 360 px).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from bench._common import Server, fresh_database  # noqa: E402
from tests.conftest import MODERATOR, SECRET  # noqa: E402
from tests.e2e import wcag  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.test_reflow_e2e import SLUG, seed_busy  # noqa: E402

URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/screenshots"
OUT = ROOT / "docs" / "screenshots"
SHOTS = (("latecomer", f"/e/{SLUG}/live", "live"), ("moderator", f"/e/{SLUG}/moderate", "console"))


async def main() -> None:
    from server.platform.db import upgrade_async

    await fresh_database(URL)
    await upgrade_async(URL)
    server = Server(URL, SECRET)
    day = await seed_busy(URL, Path(server.env["MEDIA_ROOT"]))
    OUT.mkdir(parents=True, exist_ok=True)
    with server:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for who, path, name in SHOTS:
                for width, height in ((360, 740), (1280, 800)):
                    context = await browser.new_context(
                        base_url=server.url, locale="sv-SE",
                        viewport={"width": width, "height": height})
                    page = await context.new_page()
                    if who == "moderator":
                        await page.goto("/login")
                        await page.get_by_label("Användarnamn").fill(MODERATOR[0])
                        await page.get_by_label("Lösenord").fill(MODERATOR[1])
                        await page.get_by_role("button", name="Logga in").click()
                    else:
                        await page.goto(f"/e/{SLUG}/join/{day.latecomer_key}")
                    await page.wait_for_load_state("networkidle")
                    await wcag.load(page, path)
                    await page.screenshot(path=str(OUT / f"{name}-{width}.png"))
                    if width == 360:
                        await page.screenshot(path=str(OUT / f"{name}-{width}-full.png"),
                                              full_page=True)
                    problems = await wcag.reflow_problems(page)
                    print(f"{name} at {width} px: {problems or 'reflows'}")
                    await context.close()
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
