"""Breakout-room media in real Chromium: two participants from Skåne and one from Norrbotten land
in two rooms; each page decodes video and audio only from its own room's people."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check
from tests.e2e.test_qa_e2e import participant
from tests.helpers import Browser as HttpBrowser

STATS = "async () => (await import('/static/js/room_media.js')).stats()"


async def _open_rooms(url: str) -> dict[str, int]:
    moderator = HttpBrowser(url)
    try:
        await moderator.login(*MODERATOR)
        client = await moderator.connect()
        opened = await client.call("breakout.open", {"grouping": {"strategy": "by_region"}})
        await client.close()
    finally:
        await moderator.close()
    assert opened["ok"], opened
    return {r["name"]: r["id"] for r in opened["rooms"]}


async def _receiving(page: Page, people: int, timeout: float = 60) -> dict[str, Any]:
    """Stats once video frames from `people` persons have advanced between two looks."""
    async with asyncio.timeout(timeout):
        while True:
            first = await page.evaluate(STATS)
            await asyncio.sleep(1.0)
            second = await page.evaluate(STATS)
            moving = [k for k, v in second["byPerson"].items()
                      if v["video"] > first["byPerson"].get(k, {}).get("video", 0) > 0]
            if len(moving) >= people:
                return second  # type: ignore[no-any-return]


async def test_each_room_sees_and_hears_only_its_own_people(browser, demo_server) -> None:
    asa = await participant(browser, demo_server.url, "Åsa Öberg")
    per = await participant(browser, demo_server.url, "Per Andersson")
    anna = await participant(browser, demo_server.url, "Anna Lundström", region="Norrbotten")
    rooms = await _open_rooms(demo_server.url)
    for page, name in ((asa, "Skåne"), (per, "Skåne"), (anna, "Norrbotten")):
        # The live page takes each participant to their room by itself when the round opens.
        await page.wait_for_url(f"**/e/hosten-2020/rooms/{rooms[name]}", timeout=30_000)
    for page in (asa, per, anna):
        await expect(page.locator("#media-status")).to_have_text("Ljud och bild är anslutna.",
                                                                  timeout=30_000)

    asa_stats = await _receiving(asa, 1)
    per_stats = await _receiving(per, 1)
    assert set(asa_stats["byPerson"]) == {per_stats["me"]}
    assert set(per_stats["byPerson"]) == {asa_stats["me"]}
    assert asa_stats["remoteTracks"] == per_stats["remoteTracks"] == 2  # video + audio
    assert asa_stats["byPerson"][per_stats["me"]]["audio"] > 0
    assert per_stats["byPerson"][asa_stats["me"]]["audio"] > 0

    await asyncio.sleep(2)
    alone = await anna.evaluate(STATS)
    assert alone["byPerson"] == {} and alone["remoteTracks"] == 0, "Norrbotten hears nobody"
    assert alone["state"] == "connected"

    await per.get_by_role("button", name="Stäng av mikrofonen").click()
    await expect(asa.locator(f'[data-person-key="{per_stats["me"]}"] figcaption')).to_contain_text(
        "mikrofon av")
    await axe_check(asa)
