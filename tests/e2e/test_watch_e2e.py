"""Watching together in Chromium (issue 24 points 1 and 2): a facilitator of Jämtland
Härjedalen schedules a follow-up meeting; two municipal participants come in by its link; she
shows the published recording (made by the real publish pipeline) to the room; one participant
moves to a chapter and plays, the other's player follows; a latecomer lands where the film is.
Keyboard for the controls; axe on the meeting pages and the room with its player."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from server.followup.models import FollowUpMeeting
from server.platform.db import Database
from server.platform.models import Event, StaffRole, User
from tests.conftest import password_hash
from tests.e2e.conftest import axe_check, login, new_page
from tests.e2e.test_play_e2e import _publish, _recording

pytestmark = pytest.mark.e2e
SLUG = "hosten-2020"
KARIN = ("karin", "karin-lösenord-1")


async def facilitator(url: str) -> None:
    db = Database(url)
    try:
        async with db.transaction() as session:
            event = await session.scalar(select(Event.id).where(Event.slug == SLUG))
            user = User(username=KARIN[0], display_name="Karin Fjäll", role="staff",
                        password_hash=password_hash(KARIN[1]))
            session.add(user)
            await session.flush()
            session.add(StaffRole(user_id=user.id, event_id=event, role="facilitator",
                                  regions=["Z"]))
    finally:
        await db.close()


async def meeting_link(url: str) -> str:
    db = Database(url)
    try:
        async with db.session() as session:
            meeting = (await session.scalars(select(FollowUpMeeting))).one()
            return f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}"
    finally:
        await db.close()


async def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element `selector` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def join(browser, base: str, link: str, name: str) -> Page:  # type: ignore[no-untyped-def]
    page = await new_page(browser, base)
    await page.goto(link)
    await page.get_by_label("Namn").fill(name)
    await page.get_by_label("Organisation").fill("Östersunds bibliotek")
    await page.get_by_label("Kommun").fill("Östersund")
    await page.get_by_role("button", name="Gå in i mötet").click()
    await page.wait_for_url("**/rooms/*")
    await expect(page.locator("#connection-state")).to_have_text("Ansluten")
    return page


async def position(page: Page) -> float:
    return float(await page.locator("#watch-video").evaluate("v => v.currentTime"))


async def test_a_follow_up_meeting_watches_the_recording_together(demo_server, browser) -> None:
    url = demo_server.env["DATABASE_URL"]
    rec_id = await _recording(url, demo_server.media)
    await _publish(demo_server.url, rec_id)
    await facilitator(url)

    karin = await new_page(browser, demo_server.url)
    await login(karin, *KARIN)
    await karin.goto(f"/e/{SLUG}/followup")
    await axe_check(karin)
    await karin.get_by_role("link", name="Planera ett uppföljningsmöte").click()
    await axe_check(karin)
    await karin.get_by_label("Mötets namn").fill("Uppföljning Jämtland Härjedalen")
    await karin.get_by_label("Börjar").fill("2020-11-02T10:00")
    await karin.get_by_label("Slutar").fill("2020-11-02T12:00")
    await karin.get_by_label("Trender i planerna 2020").check()
    await karin.get_by_role("button", name="Planera mötet").click()
    await expect(karin.locator("#scheduled")).to_be_visible()
    await expect(karin.locator("#agenda-items")).to_contain_text("Trender i planerna 2020")
    await axe_check(karin)
    link = await meeting_link(url)

    anna = await join(browser, demo_server.url, link, "Anna Berg")
    per = await join(browser, demo_server.url, link, "Per Ek")
    await karin.get_by_role("link", name="Gå till mötesrummet").click()
    await expect(karin.locator("#connection-state")).to_have_text("Ansluten")

    # The facilitator chooses the film, by keyboard.
    await expect(karin.locator("#watch-leader")).to_be_visible()
    await tab_to(karin, "#watch-start")
    await karin.keyboard.press("Enter")
    for page in (karin, anna, per):
        await expect(page.locator("#watch-title")).to_have_text("Träffpunkt hösten 2020")
        await expect(page.locator("#watch-chapters button")).to_have_count(3)
    await expect(anna.locator("#watch-leader")).to_be_hidden()
    await axe_check(anna)

    # Anna moves to the second chapter and plays: Per's player follows.
    await tab_to(anna, "#watch-chapters li:nth-child(2) button")
    await anna.keyboard.press("Enter")
    await expect(per.locator("#watch-status")).to_contain_text("Anna Berg")
    await anna.locator("#watch-video").evaluate("v => v.play()")
    await per.wait_for_function(
        "() => !document.getElementById('watch-video').paused", timeout=10_000)
    await asyncio.sleep(1.0)  # both play for a while
    a, p = await position(anna), await position(per)
    assert 4.0 <= a <= 8.5 and abs(a - p) < 1.0, (a, p)

    # A latecomer lands where the film is.
    lars = await join(browser, demo_server.url, link, "Lars Holm")
    await lars.wait_for_function(
        "() => document.getElementById('watch-video').currentTime > 4", timeout=10_000)
    assert abs(await position(lars) - await position(anna)) < 1.5

    # Per pauses: everyone stops.
    await per.locator("#watch-video").evaluate("v => v.pause()")
    for page in (anna, karin, lars):
        await page.wait_for_function(
            "() => document.getElementById('watch-video').paused", timeout=10_000)
