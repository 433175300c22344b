"""Hostile `notes.sync` payloads through the whole server path (socket.io, pydantic, registry,
NotesRoom, storage): refused with an error to the sender only, the notes unharmed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.ysync import awareness_message, parse_message, sync_step1, sync_update
from tests.conftest import MODERATOR, LiveServer
from tests.helpers import Browser
from tests.integration.test_notes_support import (
    NotesPeer,
    b64,
    export_json,
    make_rooms,
    participant,
    registration_id,
)

TEXT = "Malmö, Umeå och Åre 🎿 "


@dataclass
class Scene:
    attacker: NotesPeer
    bystander: NotesPeer
    kb: Browser
    room: int
    real_update: bytes
    browsers: list[Browser]

    async def notes(self) -> dict[str, str]:
        parts = (await export_json(self.kb, room=self.room))["parts"]
        return {p["theme"]: p["text"] for p in parts}


@pytest.fixture
async def scene(demo_server: LiveServer, clean_db: str) -> AsyncIterator[Scene]:
    anna = await participant(demo_server.url, "Anna Åkesson", "M")
    bo = await participant(demo_server.url, "Bo Öberg", "M")
    members = [await registration_id(clean_db, n) for n in ("Anna Åkesson", "Bo Öberg")]
    room = (await make_rooms(clean_db, {"m": {"name": "Skåne", "members": members}})).ids["m"]
    attacker, bystander = await NotesPeer.open(anna, room), await NotesPeer.open(bo, room)
    attacker.notes.section("kris").insert(0, TEXT)
    outbox = attacker.notes.take_outbox()
    for message in outbox:
        assert (await attacker.sync(message))["ok"]
    await bystander.wait(lambda: bystander.texts()["kris"] == TEXT)
    kb = Browser(demo_server.url)
    await kb.login(*MODERATOR)
    yield Scene(attacker, bystander, kb, room, parse_message(outbox[0]).payload, [anna, bo, kb])
    for peer in (attacker, bystander):
        await peer.close()
    for browser in (anna, bo, kb):
        await browser.close()


async def refused_and_unharmed(scene: Scene, payload: Any) -> dict[str, Any]:
    before = await scene.notes()
    heard = len(scene.bystander.client.events)
    ack = await scene.attacker.client.call("notes.sync", payload)
    assert await scene.notes() == before, "the stored notes changed"
    assert scene.bystander.texts()["kris"] == TEXT
    assert not [e for e, _ in scene.bystander.client.events[heard:] if e == "error"], \
        "the error went to someone else"
    return ack


def damaged(update: bytes, data: st.DataObject) -> bytes:
    """A real update with a few bytes overwritten, cut short or lengthened."""
    raw = bytearray(update)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    return bytes(raw[:cut]) + data.draw(st.binary(max_size=8))


HOSTILE = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@HOSTILE
@given(data=st.data())
async def test_garbage_is_refused_to_its_sender_and_the_notes_stay_whole(
    scene: Scene, data: st.DataObject
) -> None:
    message = data.draw(st.one_of(
        st.binary(max_size=200),
        st.binary(min_size=1, max_size=200).map(sync_update),
        st.just(scene.real_update).map(lambda u: sync_update(damaged(u, data))),
        st.binary(max_size=40).map(sync_step1),
    ))
    before = await scene.notes()
    ack = await refused_and_unharmed(scene, {"room_id": scene.room, "data": b64(message)})
    if not ack["ok"]:
        assert ack["error"]["code"].startswith("notes."), ack
        error = await scene.attacker.client.wait_for("error", lambda e: e["event"] == "notes.sync")
        assert error["code"] == ack["error"]["code"]
        scene.attacker.client.events.clear()
    assert await scene.notes() == before


@HOSTILE
@given(payload=st.one_of(
    st.none(), st.integers(), st.text(max_size=50), st.lists(st.integers(), max_size=3),
    st.fixed_dictionaries({"room_id": st.integers(), "data": st.binary(max_size=20)}),
    st.fixed_dictionaries({"room_id": st.just(0), "data": st.text(max_size=20)}),
))
async def test_undecodable_payloads_are_refused(scene: Scene, payload: Any) -> None:
    ack = await refused_and_unharmed(scene, payload)
    if isinstance(payload, dict) and isinstance(payload.get("data"), bytes) \
            and payload["room_id"] >= 1:
        assert not ack["ok"] and ack["error"]["code"] in {"notes.not_joined", "payload.invalid"}
    else:
        assert not ack["ok"] and ack["error"]["code"] == "payload.invalid"


async def test_oversized_updates_and_awareness_are_refused(scene: Scene) -> None:
    huge = sync_update(b"\x01" * (70 * 1024))
    ack = await refused_and_unharmed(scene, {"room_id": scene.room, "data": b64(huge)})
    assert ack["error"]["code"] == "notes.too_large"
    from rooms.ysync import AwarenessEntry

    crowd = awareness_message([AwarenessEntry(i, 1, '{"user": {"name": "x"}}') for i in range(9)])
    ack = await refused_and_unharmed(scene, {"room_id": scene.room, "data": b64(crowd)})
    assert ack["error"]["code"] == "notes.awareness_invalid"
    # The room still works for everyone after all that.
    await scene.attacker.type("kris", "Ändå 🙂")
    await scene.bystander.wait(lambda: scene.bystander.texts()["kris"].endswith("Ändå 🙂"))
