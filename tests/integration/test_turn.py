"""TURN credentials (issue 21, point 1) against Debian's real coturn.

The app hands each person a short-lived TURN credential (coturn's REST scheme, the server's
`TURN_SECRET` shared with coturn's `--static-auth-secret`). Here a real `turnserver` on
loopback takes the credential a participant got from `/api/ice-servers` and the one a WHEP
answer carries in its `Link` header, and allocates a relay with each over UDP and TCP; it
refuses a tampered one and one whose time has passed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint

from server.platform import turn
from server.platform.settings import Settings
from tests import network
from tests.conftest import register

SECRET = network.TURN_SECRET


@pytest.fixture
def coturn() -> Iterator[int]:
    with network.coturn() as port:
        yield port


async def allocate(port: int, username: str, password: str, transport: str) -> tuple[str, int]:
    """A relay allocated with the credential: its address, or TransactionFailed."""
    endpoint, _ = await asyncio.wait_for(create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", port), username, password,
        transport=transport), 10)
    try:
        relayed: tuple[str, int] = endpoint.get_extra_info("sockname")
        return relayed
    finally:
        endpoint.close()


@pytest.fixture
async def turn_app(clean_db: str, tmp_path: Path, coturn: int) -> AsyncIterator[object]:
    from server.app import create_app
    from tests.conftest import make_settings, seed_demo

    settings = make_settings(clean_db, tmp_path / "media").model_copy(update={
        "turn_url": f"turn:127.0.0.1:{coturn},turn:127.0.0.1:{coturn}?transport=tcp",
        "turn_secret": SECRET, "ice_servers": f"stun:127.0.0.1:{coturn}",
        "turn_ttl_seconds": 600})
    asgi = create_app(settings)
    async with asgi.quart.test_app():  # type: ignore[attr-defined]
        await seed_demo(asgi.platform)  # type: ignore[attr-defined]
        yield asgi


async def test_a_participants_credential_opens_a_relay_in_real_coturn(turn_app, coturn) -> None:  # type: ignore[no-untyped-def]
    client = turn_app.quart.test_client()
    assert (await client.get("/api/ice-servers")).status_code == 401  # only for people signed in
    await register(client)
    answer = await client.get("/api/ice-servers")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = await answer.get_json()
    stun, relay = body["iceServers"]
    assert stun == {"urls": [f"stun:127.0.0.1:{coturn}"]}
    assert relay["urls"] == [f"turn:127.0.0.1:{coturn}", f"turn:127.0.0.1:{coturn}?transport=tcp"]
    assert re.fullmatch(r"\d+:p\d+", relay["username"]), "expiry and an opaque id, no name"
    assert body["ttl"] == 600

    for transport in ("udp", "tcp"):
        host, port = await allocate(coturn, relay["username"], relay["credential"], transport)
        assert host == "127.0.0.1" and port > 0
    with pytest.raises(TransactionFailed):  # a credential changed by hand is refused
        await allocate(coturn, relay["username"].replace(":p", ":u"), relay["credential"], "udp")
    old_name, old_password = turn.credential(SECRET, "p1", 600, now=0)  # expired in 1970
    with pytest.raises(TransactionFailed):
        await allocate(coturn, old_name, old_password, "udp")


def test_link_headers_follow_rfc_9725() -> None:
    settings = Settings(turn_url="turn:t.example.se:3478,turns:t.example.se:443?transport=tcp",
                        turn_secret="s", ice_servers="stun:s.example.se:3478")
    stun, relay = turn.ice_servers(settings, "p7", now=1_000)
    assert stun.links() == ['<stun:s.example.se:3478>; rel="ice-server"']
    name, password = turn.credential("s", "p7", settings.turn_ttl_seconds, now=1_000)
    assert name == f"{1_000 + settings.turn_ttl_seconds}:p7"
    assert relay.links() == [
        f'<turn:t.example.se:3478>; rel="ice-server"; username="{name}"; '
        f'credential="{password}"; credential-type="password"',
        f'<turns:t.example.se:443?transport=tcp>; rel="ice-server"; username="{name}"; '
        f'credential="{password}"; credential-type="password"',
    ]
    assert turn.ice_servers(Settings(turn_url="turn:t.example.se"), "p7") == [], (
        "no TURN without its secret")


async def test_a_whip_answer_carries_a_credential_coturn_accepts(turn_app, coturn) -> None:  # type: ignore[no-untyped-def]
    """RFC 9725: the 201 of WHIP lists the ICE servers as Link headers; the encoder's
    credential (for the stage, no person) opens a relay in the real coturn."""
    from tests.integration.test_webcast_http import Whip, _new_token

    client = turn_app.quart.test_client()
    whip = Whip(client, await _new_token(turn_app))
    links: list[str] = []

    async def exchange(offer: str) -> str:
        answer = await client.post("/whip/hosten-2020", data=offer, headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {whip.token}"})
        assert answer.status_code == 201, await answer.get_data(as_text=True)
        whip.location = answer.headers["Location"]
        links.extend(answer.headers.get_all("Link"))
        return str(await answer.get_data(as_text=True))

    await whip.peer.connect(exchange)
    try:
        assert links[0] == f'<stun:127.0.0.1:{coturn}>; rel="ice-server"'
        relay = [re.fullmatch(r'<(.+)>; rel="ice-server"; username="(.+)"; '
                              r'credential="(.+)"; credential-type="password"', link)
                 for link in links[1:]]
        assert [m.group(1) for m in relay if m] == [
            f"turn:127.0.0.1:{coturn}", f"turn:127.0.0.1:{coturn}?transport=tcp"]
        first = relay[0]
        assert first and re.fullmatch(r"\d+:stage-\d+", first.group(2))
        host, _ = await allocate(coturn, first.group(2), first.group(3), "udp")
        assert host == "127.0.0.1"
    finally:
        await whip.stop()
