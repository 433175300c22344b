"""The webcast in real Chromium: a producer's fake camera over WHIP, one viewer over WebRTC (WHEP),
one over HLS (hls.js), each in its own browser process, with axe-core on both pages; and a media
node with no WebRTC seats, where the player ends up on HLS by itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import MODERATOR, LiveServer, seed, server_env
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, axe_check, login, new_page

LIVE = "/e/hosten-2020/live"
STATS = "async () => (await import('/static/js/webcast_player.js')).stats()"


async def _participant(browser: Browser, url: str, name: str, query: str = "") -> Page:
    page = await new_page(browser, url)
    await page.goto("/e/hosten-2020/register")
    await page.get_by_label("Namn *").fill(name)
    await page.get_by_label("Organisation *").fill("Eslövs bibliotek")
    await page.get_by_label("Region *").select_option(label="Skåne")
    await page.get_by_role("button", name="Anmäl mig").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")
    await page.goto(LIVE + query)
    return page


async def _advancing(page: Page, *fields: str, timeout: float = 45) -> dict[str, Any]:
    """Stats once every one of `fields` has moved forward since a first look:
    frames really are being decoded, not just once."""
    async with asyncio.timeout(timeout):
        first = await page.evaluate(STATS)
        while True:
            await asyncio.sleep(0.1)  # a poll, not a wait: returns as soon as all have moved
            second = await page.evaluate(STATS)
            if all(second[field] > first[field] > 0 for field in fields):
                return second  # type: ignore[no-any-return]
            if not all(first[field] > 0 for field in fields):
                first = second  # nothing decoded yet: count from the first look that has some


async def _start_producer(browser: Browser, url: str) -> Page:
    producer = await new_page(browser, url)
    await login(producer, *MODERATOR)
    await expect(producer.get_by_role("button", name=re.compile("Logga ut"))).to_be_visible()
    await producer.goto("/e/hosten-2020/produce")
    await expect(producer.locator("#connection-state")).to_have_text("Ansluten")
    await producer.get_by_role("button", name="Starta sändningen").click()
    await expect(producer.locator("#publish-state")).to_have_text("Du sänder.")
    await expect(producer.locator("#stage-live")).to_have_text("Direkt nu")
    return producer


async def test_browser_publishes_and_viewers_watch_over_webrtc_and_hls(
    browser, demo_server
) -> None:
    producer = await new_page(browser, demo_server.url)
    await login(producer, *MODERATOR)
    await expect(producer.get_by_role("button", name=re.compile("Logga ut"))).to_be_visible()
    await producer.goto("/e/hosten-2020/produce")
    await expect(producer.locator("#connection-state")).to_have_text("Ansluten")
    await axe_check(producer)
    await producer.get_by_role("button", name="Starta sändningen").click()
    await expect(producer.locator("#publish-state")).to_have_text("Du sänder.")
    await expect(producer.locator("#stage-live")).to_have_text("Direkt nu")

    second = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    third = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        webrtc = await _participant(second, demo_server.url, "Per Andersson")
        hls = await _participant(third, demo_server.url, "Sonja Viklund", "?transport=hls")
        await expect(webrtc.locator("#player")).to_have_attribute("data-transport", "webrtc")
        await expect(webrtc.locator("#stage-live")).to_have_text("Direkt nu")
        await expect(webrtc.locator("#slate")).to_be_hidden()
        seen = await _advancing(webrtc, "framesDecoded")
        assert seen["audioPackets"] > 0 and seen["audioSamples"] > 0
        await axe_check(webrtc)

        await expect(hls.locator("#player")).to_have_attribute("data-transport", "hls")
        seen = await _advancing(hls, "currentTime", "framesDecoded")
        assert seen["audioBytes"] > 0
        await axe_check(hls)
        # One over WebRTC, one over HLS: both pages and the producer show the same total.
        for page in (webrtc, hls, producer):
            await expect(page.locator("#stage-viewers")).to_have_text("2 tittar")

        # The producer stops and starts again: the WebRTC viewer's session carries on.
        await producer.get_by_role("button", name="Stoppa sändningen").click()
        await expect(webrtc.locator("#stage-live")).to_have_text("Ingen sändning just nu")
        await expect(webrtc.locator("#slate")).to_be_visible()
        await producer.get_by_role("button", name="Starta sändningen").click()
        await expect(webrtc.locator("#stage-live")).to_have_text("Direkt nu", timeout=5000)
        await _advancing(webrtc, "framesDecoded", timeout=5)
        await expect(webrtc.locator("#player")).to_have_attribute("data-transport", "webrtc")
    finally:
        await second.close()
        await third.close()


@pytest.fixture
async def no_webrtc_seats(clean_db: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    """A live server whose media engine has no WebRTC seats at all (WEBRTC_VIEWER_CAP=0)."""
    await seed(clean_db)
    env = {**server_env(clean_db, tmp_path / "media"), "WEBRTC_VIEWER_CAP": "0"}
    server = LiveServer(env).start()
    yield server
    server.stop()


async def test_a_full_media_node_sends_the_player_to_hls_by_itself(
    browser, no_webrtc_seats
) -> None:
    producer = await _start_producer(browser, no_webrtc_seats.url)
    viewer_browser = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        viewer = await _participant(viewer_browser, no_webrtc_seats.url, "Per Andersson")
        assert "transport=" not in viewer.url  # nothing forces HLS: the 503 from WHEP does
        await expect(viewer.locator("#player")).to_have_attribute("data-transport", "hls")
        await expect(viewer.locator("#stage-live")).to_have_text("Direkt nu")
        seen = await _advancing(viewer, "currentTime", "framesDecoded")
        assert seen["transport"] == "hls" and seen["audioBytes"] > 0
        await expect(viewer.locator("#stage-transport")).to_have_text("HLS")
        # The HLS viewer is counted, on its own page and the producer's.
        await expect(viewer.locator("#stage-viewers")).to_have_text("1 tittar")
        await expect(producer.locator("#stage-viewers")).to_have_text("1 tittar")
    finally:
        await viewer_browser.close()


@pytest.fixture
async def media_elsewhere(clean_db: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    """Pages on http://127.0.0.1:<port>, WHIP/WHEP on http://localhost:<port>: another origin
    to the browser (MEDIA_PUBLIC_URL), as a media node on its own host is."""
    from tests.conftest import free_port

    await seed(clean_db)
    port = free_port()
    env = {**server_env(clean_db, tmp_path / "media"),
           "MEDIA_PUBLIC_URL": f"http://localhost:{port}"}
    server = LiveServer(env, port).start()
    yield server
    server.stop()


async def test_publishing_and_watching_on_a_media_node_of_another_origin(
    browser, media_elsewhere
) -> None:
    """Issue 21, point 4: the producer's WHIP and the viewer's WHEP go to another origin with a
    signed token; Chromium's CORS checks let them through and the picture arrives."""
    url = media_elsewhere.url
    producer = await _start_producer(browser, url)
    refused = watch_console(producer)
    viewer_browser = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        viewer = await _participant(viewer_browser, url, "Per Andersson")
        whep = await viewer.locator("#player").get_attribute("data-whep")
        assert whep is not None and whep.startswith("http://localhost:"), whep
        await expect(viewer.locator("#player")).to_have_attribute("data-transport", "webrtc")
        await expect(viewer.locator("#stage-live")).to_have_text("Direkt nu")
        await _advancing(viewer, "framesDecoded")
        await expect(producer.locator("#stage-viewers")).to_have_text("1 tittar")
        assert refused == [], "the browser refused a cross-origin request"
    finally:
        await viewer_browser.close()


def watch_console(page: Page) -> list[str]:
    """What Chromium says about CORS on this page from now on."""
    said: list[str] = []
    page.on("console", lambda m: said.append(m.text) if "CORS" in m.text else None)
    return said


@pytest.fixture
async def one_webrtc_seat(clean_db: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    """One WebRTC seat; a player on HLS tries WebRTC again after 2 s (then 4, 8, ...)."""
    await seed(clean_db)
    env = {**server_env(clean_db, tmp_path / "media"), "WEBRTC_VIEWER_CAP": "1",
           "WEBRTC_RETRY_SECONDS": "2"}
    server = LiveServer(env).start()
    yield server
    server.stop()


async def test_a_player_on_hls_moves_to_webrtc_when_a_seat_frees(browser, one_webrtc_seat) -> None:
    """Issue 21, point 7: the player that fell back to HLS tries WebRTC again by itself, keeps
    HLS playing while it tries, and changes over once a seat is free."""
    url = one_webrtc_seat.url
    await _start_producer(browser, url)
    first_browser = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    second_browser = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        first = await _participant(first_browser, url, "Per Andersson")
        await expect(first.locator("#player")).to_have_attribute("data-transport", "webrtc")
        await _advancing(first, "framesDecoded")
        second = await _participant(second_browser, url, "Sonja Viklund")
        await expect(second.locator("#player")).to_have_attribute("data-transport", "hls")
        await _advancing(second, "currentTime", "framesDecoded")
        await asyncio.sleep(5)  # at least one try in between, refused: the seat is taken
        await expect(second.locator("#player")).to_have_attribute("data-transport", "hls")
        await _advancing(second, "currentTime", timeout=15)  # HLS played on through the try

        await first.goto("about:blank")  # the WebRTC viewer leaves (pagehide ends the session)
        await expect(second.locator("#player")).to_have_attribute(
            "data-transport", "webrtc", timeout=45_000)
        await expect(second.locator("#stage-transport")).to_have_text("WebRTC (låg fördröjning)")
        await _advancing(second, "framesDecoded")
    finally:
        await second_browser.close()
        if first_browser.is_connected():
            await first_browser.close()


@pytest.fixture
async def media_node_of_two(clean_db: str, tmp_path: Path) -> AsyncIterator[
        tuple[LiveServer, LiveServer]]:
    """A web node, and a media node of two processes (MEDIA_PROCESSES=2) on another origin,
    as production runs them (Redis between them)."""
    import redis.asyncio as redis

    from tests.conftest import REDIS_URL, free_port

    r = redis.from_url(REDIS_URL)
    await r.flushdb()
    await r.aclose()
    await seed(clean_db)
    base = server_env(clean_db, tmp_path / "media", REDIS_URL)
    web_port, media_port = free_port(), free_port()
    media = LiveServer({**base, "NODE_ROLE": "media", "NODE_ID": "media-1",
                        "MEDIA_PROCESSES": "2",
                        "MEDIA_CORS_ORIGINS": f"http://127.0.0.1:{web_port}"},
                       media_port, host="127.0.0.1").spawn()
    web = LiveServer({**base, "NODE_ROLE": "web", "NODE_ID": "web-1",
                      "MEDIA_PUBLIC_URL": f"http://localhost:{media_port}"}, web_port).spawn()
    media.wait()
    web.wait()
    yield web, media
    web.stop()
    media.stop()


async def test_chromium_watches_from_a_media_nodes_forwarding_process(
    browser, media_node_of_two
) -> None:
    """Issue 22, point 3: the stage is encoded once in the media node's origin; Chromium's
    WebRTC viewer is placed on the node's forwarding process (less busy: it does not encode),
    which sends it the origin's packets, and decodes picture and sound from there."""
    import psutil

    web, media = media_node_of_two
    assert media.proc is not None
    async with asyncio.timeout(20), httpx.AsyncClient() as http:
        # Until the forwarding process is linked to the origin: one that exists but is not
        # linked yet gets no viewers, and the origin would serve this one itself.
        while (await http.get(f"{media.url}/healthz")).json().get(
                "media_processes", {}).get("running") != 2:
            await asyncio.sleep(0.1)
    [forwarder] = psutil.Process(media.proc.pid).children()
    producer = await _start_producer(browser, web.url)
    idle_sockets = len(forwarder.net_connections(kind="udp"))
    viewer_browser = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        viewer = await _participant(viewer_browser, web.url, "Per Andersson")
        await expect(viewer.locator("#player")).to_have_attribute("data-transport", "webrtc")
        seen = await _advancing(viewer, "framesDecoded")
        assert seen["audioPackets"] > 0 and seen["audioSamples"] > 0
        # the viewer's peer connection is the forwarding process's (its ICE sockets)
        assert len(forwarder.net_connections(kind="udp")) > idle_sockets
        await expect(producer.locator("#stage-viewers")).to_have_text("1 tittar")
    finally:
        await viewer_browser.close()
