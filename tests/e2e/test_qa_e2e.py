"""Live Q&A in Chromium: from asking to the presenter screen, and a speaker's written answer."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import login, new_page
from tests.integration.test_qa_sockets import person
from tests.integration.test_qa_speaker import SPEAKER, SPEAKER_NAME, create_speaker

XSS = "<img src=x onerror=alert(1)> Hur når vi unga?"


async def axe_in(page: Page, selector: str) -> list[Any]:
    """axe-core (WCAG 2.1 A/AA + best practice) on one part of the page: serious or critical."""
    await page.add_script_tag(url="/static/vendor/axe.min.js")  # CSP: scripts from us only
    result = await page.evaluate(
        "async (sel) => await axe.run({include: [sel]}, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})", selector)
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


async def participant(browser, url: str, name: str, region: str = "Skåne") -> Page:  # type: ignore[no-untyped-def]
    page = await new_page(browser, url)
    await page.goto("/e/hosten-2020/register")
    await page.get_by_label("Namn *").fill(name)
    await page.get_by_label("Organisation *").fill("Bibliotek")
    await page.get_by_label("Region *").select_option(label=region)
    await page.get_by_role("button", name="Anmäl mig").click()
    await page.goto("/e/hosten-2020/live")
    await expect(page.locator("#connection-state")).to_have_text("Ansluten")
    return page


async def test_ask_approve_upvote_and_put_on_screen(browser, demo_server) -> None:
    url = demo_server.url
    asker = await participant(browser, url, "Karin Lund")
    voter = await participant(browser, url, "Per Holm", "Dalarna")
    mod = await new_page(browser, url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")

    await asker.get_by_label("Din fråga").fill(XSS)
    await asker.get_by_role("button", name="Skicka frågan").click()
    await expect(asker.locator("#qa-status")).to_have_text("Tack! Din fråga väntar på granskning.")
    mine = asker.locator("#qa-list li", has_text="Hur når vi unga?")
    await expect(mine).to_contain_text("Väntar på granskning")
    await expect(voter.locator("#qa-empty")).to_be_visible()

    card = mod.locator("#qa-mod-list li", has_text="Hur når vi unga?")
    await expect(card).to_contain_text("Karin Lund")
    await card.get_by_role("button", name="Godkänn").click()

    shown = voter.locator("#qa-list li", has_text="Hur når vi unga?")
    await expect(shown.locator(".qa-text")).to_have_text(XSS)
    assert await voter.locator("#qa-list img").count() == 0, "markup must render as text"
    await shown.get_by_role("button", name="Rösta upp (0)").click()
    await expect(shown.get_by_role("button", name="Rösta upp (1)")).to_have_attribute(
        "aria-pressed", "true")
    await expect(mine.locator(".qa-vote")).to_have_text("▲ Rösta upp (1)")
    await expect(mine).not_to_contain_text("Väntar på granskning")

    await mod.get_by_label("Godkända").check()
    approved = mod.locator("#qa-mod-list li", has_text="Hur når vi unga?")
    await expect(approved).to_contain_text("1 röster")
    await approved.get_by_role("button", name="Visa på skärmen").click()
    await expect(mod.locator("#qa-screen-text")).to_have_text(XSS)

    presenter = await mod.context.new_page()
    presenter.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError(d.message)))
    await presenter.goto("/e/hosten-2020/presenter")
    await expect(presenter.locator("#presenter-question")).to_have_text(XSS)
    await expect(asker.locator("#qa-list .qa-badge.on-screen")).to_have_text("Visas nu")

    assert await axe_in(asker, "#qa-panel") == []
    assert await axe_in(voter, "#qa-panel") == []
    assert await axe_in(mod, "#qa-console") == []
    assert await axe_in(presenter, "body") == []


async def test_presenter_key_overlay_follows_the_moderator(browser, demo_server) -> None:
    url = demo_server.url
    asker = await participant(browser, url, "Sara Ek")
    mod = await new_page(browser, url, viewport={"width": 390, "height": 844})  # a phone
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    overlay = mod.get_by_role("link", name="Presentatörsvy för OBS")
    overlay_url = await overlay.get_attribute("href")
    assert overlay_url and "key=" in overlay_url and "transparent=1" in overlay_url

    obs = await new_page(browser, url, viewport={"width": 1280, "height": 720})  # no login
    await obs.goto(overlay_url)
    background = await obs.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgba(0, 0, 0, 0)", "transparent for the OBS overlay"
    forbidden = await obs.request.get("/e/hosten-2020/presenter")
    assert forbidden.status == 403, "without the key or a moderator login: no presenter view"

    await asker.get_by_label("Din fråga").fill("Vem äger biblioteksplanen?")
    await asker.get_by_role("button", name="Skicka frågan").click()
    card = mod.locator("#qa-mod-list li", has_text="Vem äger")
    await card.get_by_role("button", name="Godkänn").click()
    await mod.get_by_label("Godkända").check()
    await card.get_by_role("button", name="Visa på skärmen").click()
    await expect(obs.locator("#presenter-question")).to_have_text("Vem äger biblioteksplanen?")
    await expect(obs.locator("#presenter-meta")).to_have_text("Sara Ek")
    width = await mod.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the moderator console fits a phone without sideways scrolling"
    assert await axe_in(mod, "#qa-console") == []
    assert await axe_in(obs, "body") == []
    await mod.get_by_role("button", name="Ta bort från skärmen").click()
    await expect(obs.locator("#presenter-question")).to_have_count(0)
    await expect(obs.locator("#presenter")).to_be_hidden()  # the overlay shows nothing at all


async def test_speaker_answers_in_writing_and_the_audience_sees_it(browser, demo_server,
                                                                   clean_db) -> None:
    create_speaker(clean_db)
    url = demo_server.url
    asker = await participant(browser, url, "Karin Lund")
    await asker.get_by_label("Din fråga").fill("Hur når vi unga?")
    await asker.get_by_role("button", name="Skicka frågan").click()
    await expect(asker.locator("#qa-status")).to_have_text("Tack! Din fråga väntar på granskning.")
    async with person(url, login=MODERATOR) as (_, mod):
        qid = (await mod.call("qa.snapshot"))["questions"][0]["id"]
        assert (await mod.call("qa.approve", {"question_id": qid}))["ok"]

    speaker = await new_page(browser, url)
    await login(speaker, *SPEAKER)
    await speaker.goto("/e/hosten-2020/live")
    await expect(speaker.locator("#connection-state")).to_have_text("Ansluten")
    await expect(speaker.locator("#qa-speaker-help")).to_be_visible()
    await expect(speaker.locator("#qa-form")).to_be_hidden()  # speakers answer, they do not ask
    card = speaker.locator("#qa-list li", has_text="Hur når vi unga?")
    toggle = card.get_by_role("button", name="Svara skriftligt")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(card.locator(".qa-vote")).to_have_count(0)

    await toggle.click()  # Escape closes the form again, focus back on its button
    await expect(card.get_by_label("Ditt skriftliga svar")).to_be_focused()
    await speaker.keyboard.press("Escape")
    await expect(card.get_by_label("Ditt skriftliga svar")).to_have_count(0)
    await expect(toggle).to_be_focused()

    await toggle.press("Enter")
    answer = card.get_by_label("Ditt skriftliga svar")
    await expect(answer).to_be_focused()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await card.get_by_role("button", name="Publicera svaret").click()
    await expect(speaker.locator("#qa-status")).to_have_text("Skriv ett svar först.")
    await answer.fill("Genom skolbiblioteken och <b>folkbiblioteken</b>.")
    assert await axe_in(speaker, "#qa-panel") == [], "with the answer form open"
    await card.get_by_role("button", name="Publicera svaret").click()
    await expect(speaker.locator("#qa-status")).to_have_text("Svaret är publicerat.")
    await expect(answer).to_have_count(0)
    await expect(toggle).to_be_focused()

    expected = f"Svar från {SPEAKER_NAME}: Genom skolbiblioteken och <b>folkbiblioteken</b>."
    mine = asker.locator("#qa-list li", has_text="Hur når vi unga?")
    await expect(mine.locator(".qa-answer")).to_have_text(expected)
    await expect(mine.locator(".qa-badge.answered")).to_have_text("Besvarad")
    assert await asker.locator("#qa-list b").count() == 0, "the answer renders as text"
    await expect(card.locator(".qa-answer")).to_have_text(expected)
    assert await axe_in(speaker, "#qa-panel") == []
    assert await axe_in(asker, "#qa-panel") == []
