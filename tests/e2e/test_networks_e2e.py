"""Real Chromium on networks that are not loopback (issue 21): a participant in a municipal
library whose firewall lets nothing out over UDP, inside a network namespace of its own, gets
the stage and a breakout room through Debian's coturn over TCP; everyone else is outside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests import network
from tests.conftest import MODERATOR, LiveServer, seed, server_env
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, login, new_page
from tests.e2e.test_breakout_e2e import receiving
from tests.e2e.test_webcast_e2e import _advancing, _participant, _start_producer


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
        assert seen["route"] == {"local": "relay", "remote": "host", "relayProtocol": "tcp"}, seen

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
        assert anna_sees["route"] == {"local": "relay", "remote": "host", "relayProtocol": "tcp"}
        # Outside the firewall nothing is relayed: TURN costs only those who need it.
        assert per_sees["route"]["local"] == "host", per_sees["route"]
    finally:
        await inside.close()
        await outside.close()
