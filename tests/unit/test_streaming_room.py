"""A breakout room between real aiortc peers in process: forwarding, no codec on the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs.base import Encoder

from streaming import StreamingError
from streaming.aiortc_compat import on_keyframe_request
from streaming.room import SPEAKING_LEVEL, MediaRoom, RoomEvent, RoomRegistry, Slot
from streaming.room_peer import RoomPeer


@pytest.fixture
async def registry() -> AsyncIterator[RoomRegistry]:
    async with RoomRegistry() as running:
        yield running


def _exchange(room: MediaRoom, participant: str):  # type: ignore[no-untyped-def]
    async def exchange(offer: str) -> tuple[str, tuple[Slot, ...]]:
        answer = await room.offer(participant, offer)
        return answer.sdp, answer.slots

    return exchange


async def _join(room: MediaRoom, name: str, slots: int, **kwargs: bool) -> RoomPeer:
    peer = RoomPeer(**kwargs)
    peer.add_slots(slots)
    await peer.negotiate(_exchange(room, name))
    return peer


async def test_three_peers_receive_each_other_without_server_codecs(
    registry: RoomRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoders: list[str] = []
    real_decoder = rtcrtpreceiver.get_decoder
    monkeypatch.setattr(rtcrtpreceiver, "get_decoder",
                        lambda codec: decoders.append(codec.name) or real_decoder(codec))
    encoding: set[int] = set()
    real_encode = {cls: cls.encode for cls in _encoder_classes()}
    for cls, encode in real_encode.items():
        monkeypatch.setattr(cls, "encode", _counting(encode, encoding))

    room = registry.room("r1")
    peers = {name: await _join(room, name, 2, tone=True)  # speaking: their audio is sent
             for name in ("anna", "bo", "cecilia")}
    # Everyone joined before the others published: later joiners filled earlier slots.
    for name, peer in peers.items():
        peer.set_slots(room.slots_of(name))
    for name, peer in peers.items():
        for other in peers:
            if other != name:
                await peer.wait_frames(other, 5)
    for peer in peers.values():
        assert {p for (p, kind) in peer.frames if kind == "audio"} == set(peers) - {
            next(n for n, q in peers.items() if q is peer)}

    # Three publishers, each decoded by two peers (video+audio): 12 decoders, all client side.
    assert len(decoders) == 12
    # The server's senders never packetize or encode: their loops are parked and each slot's
    # stream writes the payloads its source cut once.
    assert encoding  # the peers encode (6 encoders); the server creates none:
    assert all(_encoder_of(s) is None for pc in room.peer_connections for s in pc.getSenders())
    assert all(source.frames_forwarded > 0 for source in room.sources())
    for peer in peers.values():
        await peer.close()


def _encoder_classes() -> list[type[Encoder]]:
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.codecs.vpx import Vp8Encoder

    return [Vp8Encoder, OpusEncoder]


def _counting(encode, seen: set[int]):  # type: ignore[no-untyped-def]
    def wrapper(self, frame, force_keyframe=False):  # type: ignore[no-untyped-def]
        seen.add(id(self))
        return encode(self, frame, force_keyframe)

    return wrapper


def _encoder_of(sender: rtcrtpsender.RTCRtpSender) -> object:
    return sender._RTCRtpSender__encoder


async def test_pli_from_a_subscriber_reaches_the_publisher(registry: RoomRegistry) -> None:
    room = registry.room("r2")
    anna = await _join(room, "anna", 1)
    bo = await _join(room, "bo", 1)
    anna.set_slots(room.slots_of("anna"))
    await bo.wait_frames("anna", 5)
    requests: list[int] = []
    camera = next(t.sender for t in anna.pc.getTransceivers() if t.mid == "0")
    on_keyframe_request(camera, lambda: requests.append(1))
    await asyncio.sleep(0.6)  # past the per-publisher PLI rate limit of the first key frame
    slot = next(t for t in bo.pc.getTransceivers() if t.kind == "video" and t.mid != "0")
    ssrc = slot.receiver.getSynchronizationSources()[0].source
    await slot.receiver._send_rtcp_pli(ssrc)
    async with asyncio.timeout(5):
        while not requests:
            await asyncio.sleep(0.05)
    assert room.sources()[0].keyframes_requested >= 2
    await anna.close()
    await bo.close()


async def test_a_freed_slot_carries_the_next_publisher_without_renegotiation() -> None:
    events: list[RoomEvent] = []
    registry = RoomRegistry(listener=events.append)
    room = registry.room("r3")
    anna = await _join(room, "anna", 1)
    bo = await _join(room, "bo", 1)
    anna.set_slots(room.slots_of("anna"))
    await anna.wait_frames("bo", 5)
    await room.leave("bo")
    await bo.close()
    assert {s.publisher for s in room.slots_of("anna")} == {None}
    cecilia = await _join(room, "cecilia", 1)
    anna.set_slots(room.slots_of("anna"))
    assert {s.publisher for s in room.slots_of("anna")} == {"cecilia"}
    await anna.wait_frames("cecilia", 5)
    kinds = [e.kind for e in events]
    assert "room.left" in kinds and kinds.count("room.publishers") >= 4
    await anna.close()
    await cecilia.close()
    await registry.stop()


async def test_a_new_connection_from_the_same_person_replaces_the_old_one() -> None:
    """A browser whose network changed builds a new peer connection (new ICE credentials) and
    offers it under the same name: the room drops the old one and the others receive the new
    one in the slot the old one had, without offering again."""
    events: list[RoomEvent] = []
    registry = RoomRegistry(listener=events.append)
    room = registry.room("r5")
    anna = await _join(room, "anna", 1)
    bo = await _join(room, "bo", 1)
    bo.set_slots(room.slots_of("bo"))
    await bo.wait_frames("anna", 5)
    old_pc = room.peer_connections[0]
    anna_again = await _join(room, "anna", 1)  # the old browser connection is not closed
    assert len(room.peer_connections) == 2 and old_pc not in room.peer_connections
    assert old_pc.connectionState == "closed"
    assert [e.participant for e in events if e.kind == "room.left"] == ["anna"]
    bo.set_slots(room.slots_of("bo"))
    assert {s.publisher for s in room.slots_of("bo")} == {"anna"}
    seen = bo.frames.get(("anna", "video"), 0)
    await bo.wait_frames("anna", seen + 5)
    anna_again.set_slots(room.slots_of("anna"))
    await anna_again.wait_frames("bo", 5)
    for peer in (anna, anna_again, bo):
        await peer.close()
    await registry.stop()


async def test_listener_only_gets_everyone_and_publishes_nothing(registry: RoomRegistry) -> None:
    room = registry.room("r4")
    anna = await _join(room, "anna", 1)
    guest = await _join(room, "moderator", 1, video=False, audio=False)
    await guest.wait_frames("anna", 3)
    assert room.publishers == ("anna",)
    assert room.slots_of("anna") and {s.publisher for s in room.slots_of("anna")} == {None}
    await anna.close()
    await guest.close()


async def test_the_speaking_participant_becomes_the_active_speaker(registry: RoomRegistry) -> None:
    room = registry.room("r5")
    quiet = await _join(room, "quiet", 1)
    loud = await _join(room, "loud", 1, tone=True)
    async with asyncio.timeout(10):
        while room.speaker != "loud":
            await asyncio.sleep(0.1)
    levels = {s.publisher: s.level for s in room.sources() if s.kind == "audio"}
    assert levels["loud"] < SPEAKING_LEVEL <= levels["quiet"]
    await quiet.close()
    await loud.close()


async def test_an_offer_without_vp8_is_refused(registry: RoomRegistry) -> None:
    peer = RoomPeer(audio=False)
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    offer = peer.pc.localDescription.sdp.replace("VP8/90000", "VP9/90000")
    with pytest.raises(StreamingError) as caught:
        await registry.room("r6").offer("anna", offer)
    assert caught.value.code == "sdp.invalid"
    assert registry.room("r6").participants == []
    await peer.close()


async def test_closing_the_room_hangs_up_everyone(registry: RoomRegistry) -> None:
    room = registry.room("r7")
    anna = await _join(room, "anna", 1)
    await registry.close_room("r7")
    assert room.participants == []
    with pytest.raises(StreamingError) as caught:
        await room.offer("anna", anna.pc.localDescription.sdp)
    assert caught.value.code == "room.closed"
    await anna.close()
