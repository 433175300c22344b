"""No hostile socket event gives a server error (issue 19, point 10): every event of every
feature, sent by a participant and a moderator on a live server with malformed payloads, is
answered with a clear error (or ok), the connection stays up, and the server logs no ERROR.
Raw packets (two arguments, JSON nested 50,000 deep) go over a hand-made engine.io
connection, since a client library refuses to build them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.features import FEATURES
from tests.conftest import MODERATOR, LiveServer
from tests.helpers import Browser
from tests.integration.test_hostile_input import walk_async

pytestmark = pytest.mark.integration

EVENTS = sorted({route.name for f in FEATURES if f.router for route in f.router.routes})
HUGE = 10**30
NAMED = [None, [], "x", 1, 1.5, True, {"room_id": HUGE}, {"question_id": HUGE},
         {"poll_id": HUGE, "option": HUGE}, {"room_id": -1}, {"item_id": HUGE},
         {"room_id": "1"}, {"text": "\u0000" * 10}, {"data": "@@@", "room_id": 1},
         {"registration_id": HUGE, "room_id": HUGE}, {"sdp": "v=0\r\na=mid:å\r\n", "room_id": 1}]
PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["room_id", "question_id", "poll_id", "text", "item_id", "data",
                         "option", "up", "minutes", "grouping", "sdp", "on", "shown", "x"]),
        inner, max_size=4),
    max_leaves=12)


def errors_in(server: LiveServer) -> list[str]:
    return [line for line in server.output().splitlines()
            if " ERROR " in line or "Traceback" in line or "ERROR:" in line]


@asynccontextmanager
async def people_on(server: LiveServer) -> AsyncIterator[dict[str, Any]]:
    """A participant and a moderator, connected; closed after, and the server's log clean."""
    participant = Browser(server.url)
    await participant.register(name="Hanna Hacker", region="M")
    moderator = Browser(server.url)
    await moderator.login(*MODERATOR)
    people = {"participant": await participant.connect(), "moderator": await moderator.connect()}
    try:
        yield people
        assert all(c.sio.connected for c in people.values()), "everyone is still connected"
    finally:
        for client in people.values():
            await client.close()
        for browser in (participant, moderator):
            await browser.close()
    assert errors_in(server) == [], server.output()[-3000:]


def answered(who: str, event: str, payload: Any, answer: Any) -> None:
    assert isinstance(answer, dict) and "ok" in answer, (who, event, payload)
    if not answer["ok"]:
        assert answer["error"]["code"] != "server.error", (who, event, payload, answer)


async def test_every_event_answers_hostile_payloads_with_an_error(demo_server) -> None:
    async with people_on(demo_server) as people:
        for who, client in people.items():
            for event in EVENTS:
                for payload in NAMED:
                    answered(who, event, payload, await client.call(event, payload))


async def test_random_payloads_on_every_event(demo_server) -> None:
    async with people_on(demo_server) as people:

        @settings(max_examples=300, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(sorted(people)), st.sampled_from(EVENTS), PAYLOADS)
        async def walk(who: str, event: str, payload: Any) -> None:
            answered(who, event, payload, await people[who].call(event, payload))

        await walk_async(walk)


async def raw_socket(server: LiveServer, token: str) -> tuple[aiohttp.ClientSession, Any]:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket",
                               max_msg_size=0)
    assert (await ws.receive_str()).startswith("0")
    await ws.send_str("40" + json.dumps({"token": token}))
    assert (await ws.receive_str()).startswith("40")
    return http, ws


async def answer_to(ws: Any, ack: int) -> Any:
    """The acknowledgement `43<ack>[...]` (pings answered meanwhile)."""
    while True:
        frame = await asyncio.wait_for(ws.receive_str(), 10)
        if frame == "2":
            await ws.send_str("3")
        elif frame.startswith(f"43{ack}["):
            return json.loads(frame[len(f"43{ack}"):])


async def test_raw_packets_two_arguments_and_deep_json(demo_server) -> None:
    browser = Browser(demo_server.url)
    await browser.register(name="Rå Paketsson", region="M")
    http, ws = await raw_socket(demo_server, await browser.socket_token("hosten-2020"))
    try:
        await ws.send_str('421["qa.ask",{"text":"hej"},{"text":"två"}]')
        two = await answer_to(ws, 1)
        assert two[0]["ok"] is False and two[0]["error"]["code"] == "payload.invalid"
        deep = "[" * 50_000 + "]" * 50_000
        await ws.send_str(f'422["qa.ask",{deep}]')
        await ws.send_str('423["qa.snapshot"]')
        after = await answer_to(ws, 3)
        assert after[0]["ok"] is True, "the connection survived the deep packet"
    finally:
        await ws.close()
        await http.close()
        await browser.close()
    assert errors_in(demo_server) == [], demo_server.output()[-3000:]
