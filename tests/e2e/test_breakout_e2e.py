"""Breakout rooms in real Chromium: two people from Skåne and one from Norrbotten land in two
rooms, see only their own room, the timer and the broadcast, and come back on "close all"."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check, login, new_page

PEOPLE = [
    ("Åsa Öberg", "Malmö stadsbibliotek", "Skåne"),
    ("Per Andersson", "Eslövs bibliotek", "Skåne"),
    ("Anna Lundström", "Luleå stadsbibliotek", "Norrbotten"),
]


async def register(page: Page, name: str, organisation: str, region: str) -> None:
    await page.goto("/e/hosten-2020/register")
    await page.get_by_label("Namn *").fill(name)
    await page.get_by_label("Organisation *").fill(organisation)
    await page.get_by_label("Region *").select_option(label=region)
    await page.get_by_role("button", name="Anmäl mig").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")
    await page.goto("/e/hosten-2020/live")
    await expect(page.locator("#connection-state")).to_have_text("Ansluten")


async def test_three_participants_two_rooms_timer_broadcast_close(browser, demo_server) -> None:
    mod = await new_page(browser, demo_server.url)
    await login(mod, *MODERATOR)
    participants = []
    for person in PEOPLE:
        page = await new_page(browser, demo_server.url)
        await register(page, *person)
        participants.append(page)
    asa, per, anna = participants

    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
    await mod.get_by_role("button", name="Förhandsgranska").click()
    table = mod.locator("#breakout-preview-table")
    await expect(table.get_by_role("row", name="Skåne")).to_contain_text("2")
    await expect(table.get_by_role("row", name="Norrbotten")).to_contain_text("1")
    await expect(mod.locator("#breakout-totals")).to_have_text("3 av 4 placerade, 1 utan rum.")
    await axe_check(mod)
    await mod.get_by_role("button", name="Öppna grupprummen").click()

    for page in participants:
        await page.wait_for_url("**/e/hosten-2020/rooms/*")
    await expect(asa.get_by_role("heading", level=1)).to_have_text("Grupprum: Skåne")
    await expect(anna.get_by_role("heading", level=1)).to_have_text("Grupprum: Norrbotten")
    skane_list = asa.locator("#room-participants li")
    await expect(skane_list).to_have_count(2)
    await expect(asa.locator("#room-participants")).to_contain_text("Per Andersson")
    await expect(anna.locator("#room-participants li")).to_have_count(1)
    await expect(anna.locator("#room-participants")).not_to_contain_text("Åsa")
    await expect(asa.locator("#room-timer")).to_have_text(re.compile(r"^(29|30):\d\d$"))

    await asa.get_by_label("Meddelande", exact=True).fill("<i>Hej</i> från Malmö")
    await asa.get_by_role("button", name="Skicka", exact=True).click()
    await expect(per.locator("#room-chat-log")).to_contain_text("<i>Hej</i> från Malmö")
    await expect(per.locator("#room-chat-log i")).to_have_count(0)
    await anna.get_by_label("Meddelande", exact=True).fill("Hej från Luleå")
    await anna.get_by_role("button", name="Skicka", exact=True).click()
    await expect(anna.locator("#room-chat-log")).to_contain_text("Hej från Luleå")
    await expect(asa.locator("#room-chat-log")).not_to_contain_text("Luleå")
    await expect(anna.locator("#room-chat-log")).not_to_contain_text("Malmö")
    await per.get_by_role("button", name="Räck upp handen").click()
    await expect(asa.locator("#room-participants")).to_contain_text("räcker upp handen")
    await axe_check(asa)

    await mod.get_by_label("Meddelande till alla rum").fill("Fem minuter kvar")
    await mod.get_by_role("button", name="Skicka till alla rum").click()
    for page in participants:
        await expect(page.locator("#room-broadcast")).to_contain_text("Fem minuter kvar")

    await mod.get_by_role("button", name="Stäng alla rum").click()
    for page in participants:
        await page.wait_for_url("**/e/hosten-2020/live")
    await expect(asa.locator("#breakout-live")).to_be_hidden()
