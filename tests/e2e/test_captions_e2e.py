"""Live captions in Chromium: the captioner types on their page, a viewer's stage video gets a
native caption cue (as text, never markup) and the transcript panel the line; axe on both."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check, login, new_page
from tests.e2e.test_qa_e2e import axe_in, participant
from tests.integration.test_captions import CAPTIONER, create_captioner

LINE = "Välkomna <b>alla</b> bibliotek & regioner"


async def test_a_typed_line_becomes_a_caption_on_the_viewers_video(
    browser, demo_server, clean_db
) -> None:
    create_captioner(clean_db)
    viewer = await participant(browser, demo_server.url, "Karin Lund")
    await expect(viewer.locator("#captions-empty")).to_be_visible()

    captioner = await new_page(browser, demo_server.url)
    await login(captioner, *CAPTIONER)
    await captioner.goto("/e/hosten-2020")
    await captioner.get_by_role("link", name="Direkttextning").click()
    await expect(captioner.locator("#connection-state")).to_have_text("Ansluten")
    field = captioner.get_by_label("Textrad", exact=True)
    await expect(field).to_be_focused()
    await field.fill(LINE)
    await field.press("Enter")
    await expect(captioner.locator("#caption-sent li").first).to_have_text(LINE)
    await expect(field).to_have_value("")
    await expect(field).to_be_focused()

    await expect(viewer.locator("#captions-transcript li")).to_contain_text([LINE])
    assert await viewer.locator("#captions-transcript b").count() == 0, "text, not markup"
    tracks = await viewer.evaluate("""() => [...document.getElementById('stage-video').textTracks]
        .map((t) => ({kind: t.kind, lang: t.language, mode: t.mode,
                      cues: [...(t.cues ?? [])].map((c) => c.getCueAsHTML().textContent)}))""")
    assert tracks == [{"kind": "captions", "lang": "sv", "mode": "showing", "cues": [LINE]}]


    hall = await new_page(browser, demo_server.url)
    await login(hall, *MODERATOR)
    await hall.goto("/e/hosten-2020/moderate")
    async with hall.context.expect_page() as opened:
        await hall.get_by_role("link", name="Presentatörsvy med textning").click()
    screen = await opened.value
    await captioner.get_by_label("Textrad", exact=True).fill("Nu talar Anja Dahlstedt")
    await captioner.get_by_label("Textrad", exact=True).press("Enter")
    await expect(screen.locator("#presenter-caption")).to_have_text("Nu talar Anja Dahlstedt")
    await expect(screen.locator("#presenter-caption")).to_be_visible()

    later = await participant(browser, demo_server.url, "Per Holm", "Dalarna")
    await expect(later.locator("#captions-transcript li")).to_contain_text(
        [LINE, "Nu talar Anja Dahlstedt"])
    await axe_check(captioner)
    assert await axe_in(viewer, "#captions-panel") == []
