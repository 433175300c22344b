"""Shared notes in real Chromium: two people write in the same theme and see each other's text
(å, ä, ö and emoji), who is writing where (as text and as drawn carets), KB's live cross-room
view, and axe on the pages."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.conftest import MODERATOR, LiveServer
from tests.e2e.conftest import axe_check, login, new_page
from tests.helpers import join_link
from tests.integration.test_notes_support import SLUG, make_rooms, participant, registration_id

THEME = "Hur biblioteksplanerna följs upp"
ANNA = "Malmö mäter lån 🌻 åäö"
BO = "Lund frågar läsarna 📚 ÅÄÖ"


async def signed_in(browser, server: LiveServer, name: str) -> tuple[Page, int]:  # type: ignore[no-untyped-def]
    http = await participant(server.url, name, "M")
    link = join_link((await http.page(f"/e/{SLUG}/registered")).text)
    await http.close()
    page = await new_page(browser, server.url)
    await page.goto(link)
    return page, 0


async def test_two_people_write_the_same_theme_and_kb_watches_live(
    browser, demo_server: LiveServer, clean_db: str  # type: ignore[no-untyped-def]
) -> None:
    anna, _ = await signed_in(browser, demo_server, "Anna Åkesson")
    bo, _ = await signed_in(browser, demo_server, "Bo Öberg")
    members = [await registration_id(clean_db, n) for n in ("Anna Åkesson", "Bo Öberg")]
    room = (await make_rooms(clean_db, {"m": {"name": "Skåne", "regions": ["M"],
                                              "members": members}})).ids["m"]
    for page in (anna, bo):
        await page.goto(f"/e/{SLUG}/rooms/{room}/notes")
        await expect(page.get_by_label(THEME)).to_be_enabled()
    await axe_check(anna)

    a_box, b_box = anna.get_by_label(THEME), bo.get_by_label(THEME)
    await b_box.focus()
    await a_box.focus()
    await asyncio.gather(a_box.press_sequentially(ANNA, delay=20),
                         b_box.press_sequentially(BO, delay=20))
    for box in (a_box, b_box):
        await expect(box).to_have_value(_both(), timeout=10_000)
    assert await a_box.input_value() == await b_box.input_value()
    await expect(bo.locator("[data-notes-who='uppfoljning']")).to_contain_text("Anna Åkesson")
    # Her caret is drawn over Bo's textarea, with her name: decoration only (aria-hidden), the
    # line of text above says the same for screen readers.
    carets = bo.locator("[data-notes-carets='uppfoljning']")
    await expect(carets.locator("[data-notes-caret='Anna Åkesson']")).to_have_count(1)
    await expect(carets).to_have_attribute("aria-hidden", "true")
    await expect(carets).to_contain_text("Anna Åkesson")
    mark = await carets.locator("[data-notes-caret]").bounding_box()
    area = await b_box.bounding_box()
    assert mark and area and area["y"] <= mark["y"] < area["y"] + area["height"]
    assert area["x"] < mark["x"] < area["x"] + area["width"], "drawn on the text, not beside it"
    await axe_check(bo)

    kb = await new_page(browser, demo_server.url)
    await login(kb, *MODERATOR)
    await kb.goto(f"/e/{SLUG}/notes?theme=uppfoljning")
    card = kb.locator(f"[data-notes-room-view='{room}']")
    await expect(card).to_have_attribute("data-live", "1")
    await expect(card).to_have_text(await a_box.input_value())
    await a_box.press("End")
    await a_box.press_sequentially(" Ystad ✨")
    await expect(card).to_contain_text("Ystad ✨")
    await axe_check(kb)

    # The breakout room page carries the same editor.
    await bo.goto(f"/e/{SLUG}/rooms/{room}")
    await expect(bo.get_by_label(THEME)).to_have_value(await a_box.input_value())


def _both():  # type: ignore[no-untyped-def]
    """Either order: Yjs orders concurrent inserts at one place by client id."""
    import re

    anna, bo = re.escape(ANNA), re.escape(BO)
    return re.compile(f"^(?=.*{anna})(?=.*{bo}).*$", re.S)
