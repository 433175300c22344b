"""Live polls in Chromium: the moderator writes and opens a poll in the console, participants
answer with the keyboard-usable form and see the results come in; axe on both panels."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import login, new_page
from tests.e2e.test_qa_e2e import axe_in, participant

QUESTION = "Hur långt har er region kommit med biblioteksplanen?"


async def test_moderator_opens_a_poll_participants_answer_and_see_results(
    browser, demo_server
) -> None:
    karin = await participant(browser, demo_server.url, "Karin Lund")
    per = await participant(browser, demo_server.url, "Per Holm", "Dalarna")
    mod = await new_page(browser, demo_server.url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
    await expect(karin.locator("#polls-panel")).to_be_hidden()

    await mod.get_by_label("Fråga", exact=True).fill(QUESTION)
    await mod.get_by_label("Svar, ett per rad").fill("Antagen\nUnder arbete\nInte påbörjad")
    await mod.get_by_role("button", name="Skapa omröstning").click()
    await expect(mod.locator("#poll-create-status")).to_have_text(
        "Omröstningen är skapad. Öppna den när det är dags.")
    await expect(karin.locator("#polls-panel")).to_be_hidden()
    await mod.get_by_role("button", name=f"Öppna: {QUESTION}").click()

    await expect(karin.locator("#polls-panel")).to_be_visible()
    await expect(karin.locator("#polls-status")).to_have_text(f"Ny omröstning: {QUESTION}")
    await expect(karin.get_by_role("group", name=QUESTION)).to_be_visible()
    await karin.get_by_label("Under arbete").check()
    await karin.get_by_role("button", name="Rösta").click()
    await expect(karin.locator("#polls-status")).to_have_text("Tack för din röst!")
    await expect(karin.locator("#polls-current")).to_contain_text("Ditt svar: Under arbete")

    await per.get_by_label("Antagen").focus()
    await per.keyboard.press("Space")
    await per.get_by_role("button", name="Rösta").click()
    rows = karin.locator(".poll-results li")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("1 röster (50 %)")
    await expect(rows.nth(1)).to_contain_text("1 röster (50 %)")
    await expect(karin.locator(".poll-summary")).to_contain_text("Totalt 2 röster")
    await expect(mod.locator("#poll-list li").first).to_contain_text("Totalt 2 röster")

    await karin.get_by_role("button", name="Ändra mitt svar").click()
    await expect(karin.get_by_label("Under arbete")).to_be_checked()
    await karin.get_by_label("Antagen").check()
    await karin.get_by_role("button", name="Rösta").click()
    await expect(per.locator(".poll-results li").nth(0)).to_contain_text("2 röster (100 %)")

    async with mod.context.expect_page() as opened:
        await mod.get_by_role("link", name="Presentatörsvy (projektor)").click()
    screen = await opened.value
    await mod.get_by_role("button", name=f"Visa resultatet på skärmen: {QUESTION}").click()
    await expect(screen.locator("#presenter-poll-question")).to_have_text(QUESTION)
    await expect(screen.locator("#presenter")).to_be_hidden()
    await expect(screen.locator("#presenter-poll .poll-results li").nth(0)).to_contain_text(
        "2 röster (100 %)")

    await mod.get_by_role("button", name=f"Stäng: {QUESTION}").click()
    await expect(per.locator(".poll-summary")).to_contain_text("Omröstningen är stängd")
    await expect(karin.get_by_role("button", name="Ändra mitt svar")).to_have_count(0)
    assert await axe_in(karin, "#polls-panel") == []
    assert await axe_in(mod, "#polls-console") == []
    assert await axe_in(screen, "#main") == []
    await mod.get_by_role("button", name=f"Ta bort från skärmen: {QUESTION}").click()
    await expect(screen.locator("#presenter-poll")).to_be_hidden()
    await expect(screen.locator("#presenter")).to_be_visible()
