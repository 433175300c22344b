"""WHEP sessions cannot fill the WebRTC viewer cap: one person holds at most
WHEP_SESSIONS_PER_PERSON sessions (a further one ends their oldest), and a session whose ICE
never completes is gone after WEBRTC_CONNECT_TIMEOUT. The whole app, real aiortc peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from server.webcast.service import viewer_owner
from streaming.peers import ViewerPeer
from tests.conftest import make_settings, register, seed_demo

pytestmark = pytest.mark.integration

SLUG = "hosten-2020"
SDP = {"Content-Type": "application/sdp"}


async def _app(clean_db: str, tmp_path: Path, **overrides: Any) -> Any:
    from server.app import create_app

    return create_app(make_settings(clean_db, tmp_path / "media").model_copy(update=overrides))


async def _offer() -> tuple[ViewerPeer, str]:
    """A viewer's offer; unless the test connects it, the answer is never applied."""
    peer = ViewerPeer()
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    return peer, str(peer.pc.localDescription.sdp)


async def _post(client: Any, offer: str) -> Any:
    return await client.post(f"/whep/{SLUG}", data=offer, headers=SDP)


async def _until(condition: Callable[[], Awaitable[bool]], deadline: float = 10.0) -> float:
    start = time.monotonic()
    async with asyncio.timeout(deadline):
        while not await condition():
            await asyncio.sleep(0.05)
    return time.monotonic() - start


async def _webrtc_viewers(client: Any) -> int:
    return int((await (await client.get(f"/whep/{SLUG}")).get_json())["webrtc_viewers"])


async def test_a_further_session_of_one_person_ends_their_oldest(clean_db, tmp_path) -> None:
    asgi = await _app(clean_db, tmp_path, whep_sessions_per_person=2)
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        asa, per = asgi.quart.test_client(), asgi.quart.test_client()
        await register(asa)
        await register(per, email="per@example.se", name="Per")
        oldest, where = ViewerPeer(), {}

        async def exchange(offer: str) -> str:
            response = await _post(asa, offer)
            assert response.status_code == 201
            where["location"] = response.headers["Location"]
            return str(await response.get_data(as_text=True))

        await oldest.connect(exchange)  # a real, connected viewer: the tab reloaded later
        await _until(lambda: _connected(oldest))
        peers = [oldest]
        others = []
        for _ in range(2):  # Per's sessions are his own business
            peer, offer = await _offer()
            assert (await _post(per, offer)).status_code == 201
            others.append(peer)
        for _ in range(4):  # Åsa reloads, again and again
            peer, offer = await _offer()
            assert (await _post(asa, offer)).status_code == 201
            peers.append(peer)

        stage = asgi.platform.media.stage_for_event(await _event_id(asgi))
        assert await _webrtc_viewers(asa) == 4  # two each
        assert len(stage.viewer_sessions(await _owner(asgi, "asa@example.se"))) == 2
        assert len(stage.viewer_sessions(await _owner(asgi, "per@example.se"))) == 2
        assert (await asa.delete(where["location"])).status_code == 404  # the oldest is gone
        await _until(lambda: _gone(oldest))  # and its peer heard the hang-up
        for peer in peers + others:
            await peer.close()


async def _owner(asgi: Any, email: str) -> str:
    from sqlalchemy import select

    from server.platform.models import Registration
    from server.platform.web import principal_for_registration

    async with asgi.platform.db.session() as db:
        reg = await db.scalar(select(Registration).where(Registration.email == email))
    return viewer_owner(principal_for_registration(reg))


async def _connected(peer: ViewerPeer) -> bool:
    return bool(peer.pc.connectionState == "connected")


async def _gone(peer: ViewerPeer) -> bool:
    return bool(peer.pc.connectionState in ("closed", "failed"))


async def _event_id(asgi: Any) -> int:
    from server.platform import programme

    async with asgi.platform.db.session() as db:
        return (await programme.get_event(db, SLUG)).id


async def test_a_session_that_never_connects_frees_its_place(clean_db, tmp_path) -> None:
    asgi = await _app(clean_db, tmp_path, webrtc_viewer_cap=1, webrtc_connect_timeout=1.0)
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        hoarder, patient = asgi.quart.test_client(), asgi.quart.test_client()
        await register(hoarder)
        await register(patient, email="per@example.se", name="Per")
        silent, offer = await _offer()
        assert (await _post(hoarder, offer)).status_code == 201  # its ICE never completes
        refused, second = await _offer()
        full = await _post(patient, second)
        assert full.status_code == 503
        assert (await full.get_json())["error"]["code"] == "stage.viewer_cap"

        waited = await _until(lambda: _no_viewers(patient))
        assert waited < 3.0
        viewer = ViewerPeer()

        async def exchange(offer: str) -> str:
            response = await _post(patient, offer)
            assert response.status_code == 201
            return str(await response.get_data(as_text=True))

        await viewer.connect(exchange)
        await _until(lambda: _connected(viewer))
        for peer in (silent, refused, viewer):
            await peer.close()


async def _no_viewers(client: Any) -> bool:
    return await _webrtc_viewers(client) == 0
