"""The live page on a phone (issue 20): the stage on top, the panels as tabs under it; the
moderator console's panels linked from its top.

A participant on a 360 px phone sees the webcast first and then one panel at a time, chosen by
tabs that work with the keyboard (arrow keys) and screen readers (the WAI-ARIA tabs pattern).
A poll that opens while they read the questions marks its tab "nytt" instead of appearing far
down the page; on a desktop the panels stand beside the stage as before.
"""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check, login, new_page
from tests.e2e.test_qa_e2e import participant
from tests.e2e.wcag import reflow_problems

QUESTION = "Hur långt har er region kommit med biblioteksplanen?"


async def test_live_page_on_a_phone_shows_panels_as_tabs(browser, demo_server) -> None:
    phone = await participant(browser, demo_server.url, "Karin Lund")
    await phone.set_viewport_size({"width": 360, "height": 740})
    tabs = phone.get_by_role("tablist", name="Delar av sidan")
    await expect(tabs).to_be_visible()
    questions = tabs.get_by_role("tab", name="Frågor")
    await expect(questions).to_have_attribute("aria-selected", "true")
    await expect(phone.get_by_role("tabpanel", name="Frågor")).to_be_visible()
    await expect(phone.locator("#captions-panel")).to_be_hidden()  # another tab's panel
    await expect(tabs.get_by_role("tab", name="Omröstning")).to_be_hidden()  # no poll yet
    stage = await phone.locator(".stage").bounding_box()
    listed = await tabs.bounding_box()
    assert stage and listed and stage["y"] < listed["y"], "the stage comes first on a phone"
    assert await reflow_problems(phone) == []
    await axe_check(phone)

    mod = await new_page(browser, demo_server.url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
    await mod.set_viewport_size({"width": 360, "height": 740})  # the moderator in the venue
    polls_heading = mod.get_by_role("heading", name="Omröstningar", exact=True)
    await expect(polls_heading).not_to_be_in_viewport()
    await mod.get_by_role("navigation", name="I konsolen").get_by_role(
        "link", name="Omröstningar").click()
    await expect(polls_heading).to_be_in_viewport()
    await mod.get_by_label("Fråga", exact=True).fill(QUESTION)
    await mod.get_by_label("Svar, ett per rad").fill("Antagen\nUnder arbete")
    await mod.get_by_role("button", name="Skapa omröstning").click()
    await mod.get_by_role("button", name=f"Öppna: {QUESTION}").click()

    poll_tab = tabs.get_by_role("tab", name="Omröstning")
    await expect(poll_tab).to_be_visible()
    await expect(poll_tab).to_have_accessible_name("Omröstning nytt")
    await expect(poll_tab).to_have_attribute("aria-selected", "false")
    await expect(phone.locator("#qa-panel")).to_be_visible()  # what they read stays put

    await questions.focus()
    await phone.keyboard.press("ArrowRight")
    await expect(poll_tab).to_be_focused()
    await expect(poll_tab).to_have_attribute("aria-selected", "true")
    await expect(poll_tab).to_have_accessible_name("Omröstning")
    await expect(phone.get_by_role("group", name=QUESTION)).to_be_visible()
    await expect(phone.locator("#qa-panel")).to_be_hidden()
    await phone.keyboard.press("Home")
    await expect(questions).to_be_focused()
    await phone.keyboard.press("End")
    await expect(tabs.get_by_role("tab").last).to_be_focused()
    await axe_check(phone)

    await phone.set_viewport_size({"width": 1280, "height": 800})
    await expect(tabs).to_be_hidden()
    await expect(phone.get_by_role("region", name="Frågor")).to_be_visible()
    await expect(phone.get_by_role("group", name=QUESTION)).to_be_visible()
    await expect(phone.locator("#captions-panel")).to_be_visible()
    await axe_check(phone)
