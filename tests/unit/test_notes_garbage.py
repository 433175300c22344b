"""Hostile bytes from a browser: refused with a RoomsError, the shared notes untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text

from rooms.errors import RoomsError
from rooms.notes import NotesRoom
from rooms.notes_client import NotesClient
from rooms.notes_storage import NEVER, MemoryNotesStorage
from rooms.ysync import awareness_message, parse_message, sync_step1, sync_update

THEMES = ["planer", "samverkan"]


class Fixture:
    """A room with real notes in it, driven from a synchronous hypothesis test."""

    def __init__(self, typed: list[bytes] | None = None) -> None:
        """`typed`: another fixture's typing, replayed (the same bytes, the same room)."""
        self.runner = asyncio.Runner()
        self.storage = MemoryNotesStorage()
        # Never compacting on its own: a background compaction would change the stored bytes
        # in the middle of a property's before/after comparison.
        self.room = self.runner.run(NotesRoom.open("rum", THEMES, self.storage, policy=NEVER))
        self.typed = typed or self._write("Å ä ö, Luleå 🦌 ")
        if typed:
            for message in typed:
                self.runner.run(self.room.handle(message, "skribent"))
        self.real_updates = [parse_message(m).payload for m in self.typed]  # to damage below

    def _write(self, words: str) -> list[bytes]:
        client = NotesClient()
        client.receive(sync_update(self.room.snapshot()))
        client.section("planer").insert(0, words)
        messages = client.take_outbox()
        for message in messages:
            self.runner.run(self.room.handle(message, "skribent"))
        return messages

    def send(self, message: bytes) -> RoomsError | None:
        try:
            self.runner.run(self.room.handle(message, "angripare"))
        except RoomsError as error:
            return error
        return None


@pytest.fixture(scope="module")
def room() -> Iterator[Fixture]:
    fixture = Fixture()
    yield fixture
    fixture.runner.close()


def unchanged_after(room: Fixture, message: bytes) -> tuple[RoomsError | None, bool]:
    before, stored = room.room.snapshot(), room.storage.stored_bytes("rum")
    error = room.send(message)
    same = room.room.snapshot() == before and room.storage.stored_bytes("rum") == stored
    return error, same


QUICK = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@QUICK
@given(st.binary(max_size=300))
def test_random_messages_never_change_the_notes(room: Fixture, data: bytes) -> None:
    error, same = unchanged_after(room, data)
    assert same, "random bytes changed the document"
    assert error is None or error.code.startswith("notes.")


@QUICK
@given(st.binary(min_size=1, max_size=300).filter(lambda b: b != b"\x00\x00"))
def test_garbage_updates_are_refused_and_leave_the_notes_unchanged(
    room: Fixture, update: bytes
) -> None:
    texts = room.room.texts()
    error, same = unchanged_after(room, sync_update(update))
    if error is not None:
        assert error.code in {"notes.rejected", "notes.forbidden_change"} and same
    assert room.room.texts() == texts


def with_clock(update: bytes, clock: int) -> bytes:
    """A real one-client update whose structs claim to start at `clock`: the same text at a
    place in the client's history the room has never seen (a damaged clock byte)."""
    at = 0
    for _ in range(3):  # clients, structs, client id: varUints
        while update[at] & 0x80:
            at += 1
        at += 1
    end = at
    while update[end] & 0x80:
        end += 1
    return update[:at] + var_uint(clock) + update[end + 1 :]


def var_uint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


def damage(data: st.DataObject, original: bytes) -> bytes:
    at = data.draw(st.integers(0, len(original) - 1))
    byte = data.draw(st.integers(0, 255))
    return data.draw(st.sampled_from([
        original[:at] + bytes([original[at] ^ (byte or 1)]) + original[at + 1 :],  # flip
        original[:at],  # cut
        original[:at] + bytes([byte]) + original[at:],  # insert
        with_clock(original, data.draw(st.integers(0, 5000))),  # a damaged clock
    ]))


def test_updates_from_a_future_clock_are_refused(room: Fixture) -> None:
    """The shape of the bug of 3 Dec 2026: the same real update claiming clocks the room has not
    seen. Yjs keeps each as a pending part; two or three of them broke the snapshot."""
    fresh = Fixture(room.typed)
    try:
        texts = fresh.room.texts()
        for clock in (532, 65, 1000):
            error, same = unchanged_after(fresh, sync_update(with_clock(room.real_updates[0],
                                                                         clock)))
            assert error is not None and error.code == "notes.rejected" and same
        newcomer = NotesClient()
        newcomer.receive(sync_update(fresh.room.snapshot()))
        assert newcomer.texts() == fresh.room.texts() == texts
    finally:
        fresh.runner.close()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_real_updates_are_refused_or_merge_cleanly(
    room: Fixture, data: st.DataObject
) -> None:
    """A run of damaged copies of real updates, each refused whole or merged whole: the room
    a newcomer loads still has the room's texts.

    Each example is a fresh room taking up to 12 damaged updates in a row: the bug this guards
    (found 3 Dec 2026) needed two or three accepted ones to pile up as pending parts before the
    snapshot broke. Without the fix (rooms/notes.py `integrates`) this test failed on each of
    five runs; with the old strategy (one damaged byte per example, one shared room) about one
    run in five.
    """
    template, room = room, Fixture(room.typed)  # a fresh room with the same content
    try:
        for _ in range(data.draw(st.integers(1, 12))):
            damaged = damage(data, data.draw(st.sampled_from(template.real_updates)))
            error, same = unchanged_after(room, sync_update(damaged))
            assert error is None or same
        newcomer = NotesClient()
        for _target, message in room.room.join("ny"):
            newcomer.receive(message)
        newcomer.receive(sync_update(room.room.snapshot()))
        assert newcomer.texts() == room.room.texts()
    finally:
        room.runner.close()


@QUICK
@given(st.binary(max_size=200))
def test_garbage_state_vectors_and_awareness_are_refused_with_a_code(
    room: Fixture, data: bytes
) -> None:
    for message in (sync_step1(data), awareness_message([])[:1] + data):
        error, same = unchanged_after(room, message)
        assert same
        assert error is None or error.code.startswith("notes.")


@pytest.fixture
def fresh_room() -> Iterator[Fixture]:
    """A room of its own: the module's room may carry what the known-bug property test above
    managed to apply (it failed 1 run in 5 for this test while that bug is open)."""
    fixture = Fixture()
    yield fixture
    fixture.runner.close()


def test_a_hand_made_update_that_steals_a_section_is_refused(fresh_room: Fixture) -> None:
    room = fresh_room
    thief: Doc[Map[Text]] = Doc()
    thief.apply_update(room.room.snapshot())
    thief.get("themes", type=Map)["samverkan"] = Text("mitt")
    error, same = unchanged_after(room, sync_update(thief.get_update(room.room.state_vector())))
    assert error is not None and error.code == "notes.forbidden_change" and same
