"""A media node on every core: `traffpunkt serve --media-only` with MEDIA_PROCESSES=2 starts a
forwarding process beside its origin. WHEP viewers are placed on both and see the one encode,
the forwarding process hosts breakout rooms like any media node, a WHEP DELETE reaches the
process that serves the viewer, and a forwarding process that dies is started again."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis.asyncio as redis
from sqlalchemy import select

from server.platform import keys
from server.platform.auth import Principal
from server.platform.db import Database
from server.platform.models import Event, User
from server.webcast.service import rotate_token
from streaming.peers import SyntheticPublisher, ViewerPeer
from tests.conftest import MODERATOR, REDIS_URL, LiveServer, seed, server_env
from tests.helpers import Browser

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # processes, real-time media

SLUG = "hosten-2020"
SDP = {"Content-Type": "application/sdp"}


@dataclass
class Node:
    web: LiveServer
    media: LiveServer
    viewer: Browser
    token: str

    def forwarders(self) -> list[psutil.Process]:
        assert self.media.proc is not None
        return psutil.Process(self.media.proc.pid).children()


async def _whip_token(url: str) -> str:
    db = Database(url)
    try:
        async with db.transaction() as session:
            event = await session.scalar(select(Event).where(Event.slug == SLUG))
            user = await session.scalar(select(User).where(User.username == MODERATOR[0]))
            assert event is not None and user is not None
            moderator = Principal("user", user.id, user.display_name, "moderator")
            token, _ = await rotate_token(session, moderator, event.id)
            return token
    finally:
        await db.close()


async def _loads() -> dict[str, str]:
    r = redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return dict(await r.hgetall(keys.ROOM_MEDIA_LOAD))  # type: ignore[misc]
    finally:
        await r.aclose()


@pytest.fixture
async def node(clean_db: str, tmp_path: Path) -> AsyncIterator[Node]:
    r = redis.from_url(REDIS_URL)
    await r.flushdb()
    await r.aclose()
    await seed(clean_db)
    base = server_env(clean_db, tmp_path / "media", REDIS_URL)
    media = LiveServer({**base, "NODE_ROLE": "media", "NODE_ID": "media-1",
                        "MEDIA_PROCESSES": "2"}).spawn()
    web = LiveServer({**base, "NODE_ROLE": "web", "NODE_ID": "web-1"}).spawn()
    media.wait()
    web.wait()
    viewer = Browser(web.url)
    try:
        assert (await viewer.register()).status_code == 200
        yield Node(web, media, viewer, await _whip_token(clean_db))
    finally:
        await viewer.close()
        print(media.output()[-3000:])  # shown when the test fails
        web.stop()
        media.stop()


async def _until(condition: object, seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # type: ignore[operator]
            await asyncio.sleep(0.1)


async def _publish(node: Node) -> SyntheticPublisher:
    publisher = SyntheticPublisher()

    async def exchange(offer: str) -> str:
        response = await node.viewer.http.post(
            f"{node.media.url}/whip/{SLUG}", content=offer,
            headers={**SDP, "Authorization": f"Bearer {node.token}"})
        assert response.status_code == 201, response.text
        return response.text

    await publisher.connect(exchange)
    return publisher


async def _watch(node: Node) -> tuple[ViewerPeer, str, set[int]]:
    """A WHEP viewer; its session's URL and the UDP ports the media node answered with."""
    viewer, held = ViewerPeer(), {}

    async def exchange(offer: str) -> str:
        response = await node.viewer.http.post(f"{node.media.url}/whep/{SLUG}", content=offer,
                                               headers=SDP)
        assert response.status_code == 201, response.text
        held["location"] = response.headers["Location"]
        return response.text

    await viewer.connect(exchange)
    answer = viewer.pc.remoteDescription.sdp
    ports = {int(m) for m in re.findall(r"a=candidate:\S+ \d+ udp \d+ \S+ (\d+)", answer)}
    return viewer, held["location"], ports


def _udp_ports(process: psutil.Process) -> set[int]:
    return {c.laddr.port for c in process.net_connections(kind="udp")}


async def _state(node: Node) -> dict[str, object]:
    response = await node.viewer.http.get(f"{node.media.url}/whep/{SLUG}")
    return dict(response.json())


async def test_viewers_on_both_processes_rooms_on_both_and_a_dead_one_comes_back(
    node: Node,
) -> None:
    # Both processes are room hosts (each a node in the registry, its load beside the others).
    await _until(lambda: _has(_loads(), {"media-1", "media-1-1"}))
    await _until(lambda: _linked(node))
    [forwarder] = node.forwarders()

    publisher = await _publish(node)
    # The origin encodes: the forwarding process is less loaded and takes the first viewer;
    # then whichever is less loaded (both serve the same frames).
    first, first_at, first_ports = await _watch(node)
    second, _, second_ports = await _watch(node)
    assert first_ports and first_ports <= _udp_ports(forwarder)
    second_there = second_ports <= _udp_ports(forwarder)
    for viewer in (first, second):
        await viewer.wait_video_frames(10)
    assert first.frame_size == second.frame_size
    # A process's WebRTC viewers count in its load as a room host: new rooms go elsewhere.
    await _until(lambda: _load_of(_loads(), "media-1-1", 1 + second_there))
    state = await _state(node)
    assert state["live"] is True and state["webrtc_viewers"] == 2, state

    # WHEP DELETE at the node's address ends the session in the process that serves it.
    deleted = await node.viewer.http.delete(f"{node.media.url}{first_at}")
    assert deleted.status_code == 200, deleted.text
    await _until(lambda: _count(_state(node), 1))
    await first.close()

    # A forwarding process killed outright: its viewers are forgotten, the origin starts it
    # again, and it takes viewers again.
    third, _, third_ports = await _watch(node)
    third_there = third_ports <= _udp_ports(forwarder)
    await third.wait_video_frames(3)
    os.kill(forwarder.pid, signal.SIGKILL)
    left = 2 - second_there - third_there
    await _until(lambda: _count(_state(node), left))
    await _until(lambda: _new_forwarder(node, forwarder.pid))
    await _until(lambda: _linked(node))
    [restarted] = node.forwarders()
    fourth, _, fourth_ports = await _watch(node)
    assert fourth_ports <= _udp_ports(restarted)
    await fourth.wait_video_frames(5)
    for viewer, there in ((second, second_there), (third, third_there)):
        if not there:  # the origin's viewers carried on
            await viewer.wait_video_frames(viewer.video_frames + 5)
    for peer in (second, third, fourth, publisher):
        await peer.close()


async def _has(loads: object, nodes: set[str]) -> bool:
    return nodes <= set(await loads)  # type: ignore[misc]


async def _load_of(loads: object, node: str, load: int) -> bool:
    return int((await loads).get(node, -1)) == load  # type: ignore[attr-defined]


async def _count(state: object, viewers: int) -> bool:
    return (await state)["webrtc_viewers"] == viewers  # type: ignore[misc,index]


async def _new_forwarder(node: Node, old: int) -> bool:
    return [p.pid for p in node.forwarders()] not in ([], [old])


async def _linked(node: Node) -> bool:
    """The node's health says both processes run (the forwarding one linked to the origin)."""
    health = (await node.viewer.http.get(f"{node.media.url}/healthz")).json()
    return bool(health["media_processes"] == {"configured": 2, "running": 2})
