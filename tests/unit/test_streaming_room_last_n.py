"""Rooms forward what people see (issue 22, point 1): the video of the last N speakers plus
pins, the audio of those speaking, nothing of a camera that is off or in an audio-only room.
Real aiortc peers in process; the room is the media engine's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from streaming.room import MediaRoom, RoomRegistry
from streaming.room_peer import RoomPeer
from tests.unit.test_streaming_room import _join


@pytest.fixture
async def registry() -> AsyncIterator[RoomRegistry]:
    async with RoomRegistry() as running:
        yield running


def video_from(room: MediaRoom, who: str) -> set[str]:
    return {s.publisher for s in room.slots_of(who) if s.kind == "video" and s.publisher}


async def until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _room_of_five(room: MediaRoom) -> tuple[RoomPeer, dict[str, RoomPeer]]:
    """A listener with slots for everyone and four silent publishers (160x120 cameras)."""
    room.last_n = 2
    listener = await _join(room, "lisa", 4, video=False, audio=False)
    publishers = {name: await _join(room, name, 0, width=160, height=120)
                  for name in ("anna", "bo", "cecilia", "david")}
    return listener, publishers


async def test_a_listener_receives_the_last_speakers_video_and_follows_a_new_one(
    registry: RoomRegistry,
) -> None:
    room = registry.room("last-n")
    listener, publishers = await _room_of_five(room)
    # Nobody has spoken: the first N to join fill the view; the others' video is not sent.
    assert video_from(room, "lisa") == {"anna", "bo"}
    listener.set_slots(room.slots_of("lisa"))
    await listener.wait_frames("anna", 5)
    assert listener.video_from("david") == 0

    # David starts to speak: within the speaker watch's interval his video takes a slot and
    # arrives from a key frame; the audio of the silent ones never went out at all.
    speaker = await _join(room, "erik", 0, width=160, height=120, tone=True)
    started = time.monotonic()
    await until(lambda: "erik" in video_from(room, "lisa"))
    listener.set_slots(room.slots_of("lisa"))
    await listener.wait_frames("erik", 3)
    print(f"active speaker's video arrived {time.monotonic() - started:.2f} s after joining")
    assert len(video_from(room, "lisa")) == 2
    await until(lambda: listener.audio_from("erik") > 10)
    assert all(listener.audio_from(name) == 0 for name in publishers)
    held = {s.publisher: s.frames_held for s in room.sources() if s.kind == "audio"}
    assert held["anna"] > 0 and held["erik"] == 0
    for peer in (listener, speaker, *publishers.values()):
        await peer.close()


async def test_pins_camera_off_and_an_audio_only_room(registry: RoomRegistry) -> None:
    room = registry.room("pins")
    listener, publishers = await _room_of_five(room)
    room.set_pins("lisa", ["david", "lisa", "nobody"])  # oneself and strangers are ignored
    assert video_from(room, "lisa") == {"anna", "bo", "david"}  # N plus the pin
    listener.set_slots(room.slots_of("lisa"))
    await listener.wait_frames("david", 3)

    room.set_camera("anna", False)  # anna's camera goes off: cecilia fills her place
    assert video_from(room, "lisa") == {"bo", "cecilia", "david"}
    assert "anna" not in video_from(room, "david")

    room.set_view("lisa", 0)  # lisa's page is hidden: only what she pinned
    assert video_from(room, "lisa") == {"david"}
    room.set_view("lisa", None)

    room.set_audio_only(True)  # the facilitator: sound only
    assert all(not video_from(room, who) for who in ("lisa", "anna", "bo", "david"))
    before = listener.video_from("david")
    await asyncio.sleep(0.5)
    assert listener.video_from("david") <= before + 1  # at most a frame already in flight
    room.set_audio_only(False)
    assert video_from(room, "lisa") == {"bo", "cecilia", "david"}
    for peer in (listener, *publishers.values()):
        await peer.close()
