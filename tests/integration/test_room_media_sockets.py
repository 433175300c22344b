"""Breakout-room media on a real server: only members publish and listen, frames are forwarded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from streaming.room import Slot
from streaming.room_peer import RoomPeer
from tests.helpers import Client
from tests.integration.test_breakout_sockets import BY_REGION, Day, day  # noqa: F401, F811


def _slots(data: list[dict[str, Any]]) -> tuple[Slot, ...]:
    return tuple(Slot(**slot) for slot in data)


def _exchange(client: Client, room_id: int):  # type: ignore[no-untyped-def]
    async def exchange(offer: str) -> tuple[str, tuple[Slot, ...]]:
        answer = await client.call("room_media.offer", {"room_id": room_id, "sdp": offer})
        assert answer["ok"], answer
        return answer["sdp"], _slots(answer["slots"])

    return exchange


async def _rooms(day: Day, **extra: object) -> dict[str, int]:  # noqa: F811
    opened = await day.mod.call("breakout.open", {**BY_REGION, **extra})
    assert opened["ok"], opened
    return {r["name"]: r["id"] for r in opened["rooms"]}


@pytest.fixture
async def peers() -> AsyncIterator[list[RoomPeer]]:
    created: list[RoomPeer] = []
    yield created
    for peer in created:
        await peer.close()


async def test_members_see_and_hear_each_other_and_outsiders_are_refused(
    day: Day, peers: list[RoomPeer]  # noqa: F811
) -> None:
    rooms = await _rooms(day)
    skane = rooms["Skåne"]
    a, b = day.skane
    keys = []
    for client in (a, b):
        joined = await client.call("room_media.join", {"room_id": skane})
        assert joined["ok"], joined
        keys.append(joined["me"])
        peer = RoomPeer()
        peer.add_slots(1)
        await peer.negotiate(_exchange(client, skane))
        peers.append(peer)
    filled = await a.wait_for("room_media.slots", lambda d: any(s["publisher"] for s in d["slots"]))
    peers[0].set_slots(_slots(filled["slots"]))
    await peers[0].wait_frames(keys[1], 5)
    await peers[1].wait_frames(keys[0], 5)

    for event in ("room_media.join", "room_media.offer"):
        payload: dict[str, Any] = {"room_id": skane}
        if event == "room_media.offer":
            payload["sdp"] = "v=0\r\n"
        refused = await day.norr.call(event, payload)
        assert refused["error"]["code"] == "room.not_member", event

    await a.call("room_media.state", {"room_id": skane, "audio": False, "video": True})
    muted = await b.wait_for("room_media.participants", lambda d: any(
        p["key"] == keys[0] and not p["audio"] for p in d["participants"]))
    publishing = {p["key"]: p["publishing"] for p in muted["participants"]}
    assert publishing == {keys[0]: True, keys[1]: True}
    assert not [e for e, _ in day.norr.events if e.startswith("media.")], "other rooms hear nothing"


async def test_on_site_rooms_refuse_media_and_offers_need_a_join(day: Day) -> None:  # noqa: F811
    rooms = await _rooms(day, without_media=["BD"])
    no_media = await day.norr.call("room_media.join", {"room_id": rooms["Norrbotten"]})
    assert no_media["error"]["code"] == "room.no_media"
    early = await day.skane[0].call(
        "room_media.offer", {"room_id": rooms["Skåne"], "sdp": "v=0\r\n"})
    assert early["error"]["code"] == "room_media.not_joined"
    await day.skane[0].call("room_media.join", {"room_id": rooms["Skåne"]})
    bad = await day.skane[0].call("room_media.offer", {"room_id": rooms["Skåne"], "sdp": "v=0\r\n"})
    assert bad["error"]["code"] == "sdp.invalid"


async def test_closing_the_round_hangs_up_and_media_cannot_be_rebuilt(
    day: Day, peers: list[RoomPeer]  # noqa: F811
) -> None:
    rooms = await _rooms(day)
    skane = rooms["Skåne"]
    a = day.skane[0]
    assert (await a.call("room_media.join", {"room_id": skane}))["ok"]
    peer = RoomPeer()
    peers.append(peer)
    await peer.negotiate(_exchange(a, skane))
    closed = await day.mod.call("breakout.close")
    assert closed["ok"], closed
    assert (await a.wait_for("room_media.closed"))["reason"] == "closed"
    for event in ("room_media.join", "room_media.offer"):
        payload: dict[str, Any] = {"room_id": skane}
        if event == "room_media.offer":
            payload["sdp"] = "v=0\r\n"
        refused = await a.call(event, payload)
        assert refused["error"]["code"] == "room.closed", event
    history = await a.call("chat.history", {"room_id": skane})
    assert history["ok"], "chat stays readable after the round"


async def test_pins_camera_off_and_audio_only_over_sockets(
    day: Day, peers: list[RoomPeer]  # noqa: F811
) -> None:
    """What each person sees (pins, how many speakers), a camera switched off, and the
    facilitator's audio-only switch, which a participant cannot use."""
    skane = (await _rooms(day))["Skåne"]
    a, b = day.skane
    keys = []
    for client in (a, b):
        joined = await client.call("room_media.join", {"room_id": skane})
        keys.append(joined["me"])
        peer = RoomPeer(width=160, height=120)
        peer.add_slots(1)
        await peer.negotiate(_exchange(client, skane))
        peers.append(peer)
    await a.wait_for("room_media.slots", lambda d: any(
        s["publisher"] == keys[1] and s["kind"] == "video" for s in d["slots"]))

    seen = await a.call("room_media.view", {"room_id": skane, "pins": [keys[1], "x"],
                                            "last_n": 0})
    assert seen["ok"] and seen["pins"] == [keys[1], "x"], seen
    too_many = await a.call("room_media.view", {"room_id": skane, "pins": ["p"] * 9})
    assert too_many["error"]["code"] == "payload.invalid", too_many

    await b.call("room_media.state", {"room_id": skane, "audio": True, "video": False})
    await a.wait_for("room_media.slots", lambda d: not any(
        s["publisher"] and s["kind"] == "video" for s in d["slots"]))  # b's video: to nobody
    await b.call("room_media.state", {"room_id": skane, "audio": True, "video": True})
    await a.wait_for("room_media.slots", lambda d: any(
        s["publisher"] == keys[1] and s["kind"] == "video" for s in d["slots"]))

    refused = await b.call("room_media.audio_only", {"room_id": skane, "on": True})
    assert refused["error"]["code"] == "room_media.not_facilitator", refused
    done = await day.mod.call("room_media.audio_only", {"room_id": skane, "on": True})
    assert done["ok"] and done["audio_only"], done
    await a.wait_for("room_media.participants", lambda d: d["audio_only"])
    await a.wait_for("room_media.slots", lambda d: not any(
        s["publisher"] and s["kind"] == "video" for s in d["slots"]))
