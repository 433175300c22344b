"""Forward once (issue 22, point 2): a frame is cut into RTP payloads once; each subscriber's
stream writes only its own header fields and encryption, keeps its own timeline and VP8
picture ids across sources, starts at a key frame and answers NACKs with RTX.

The sender is a real aiortc sender of a real peer connection; only the last step (SRTP and the
socket) is replaced by a list, so the packets can be read back with aiortc's own parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from streaming.aiortc_compat import VP8_PICTURE_ID
from streaming.rtp_stream import PreparedFrame, RtpStream

KEY = b"\x10\x02\x00\x9d\x01\x2a" + bytes(2500)  # a VP8 key frame (tag bit 0 clear), 2 packets
DELTA = b"\x11" + bytes(400)


@pytest.fixture
async def sender() -> AsyncIterator[Any]:
    pc = RTCPeerConnection()
    yield pc.addTransceiver("video", "sendonly").sender
    await pc.close()


def connected(stream: RtpStream, wire: list[bytes]) -> None:
    """As if the connection were up: payload types negotiated, packets to ``wire``."""
    link: Any = stream._link
    link.payload_type, link.rtx_payload_type = 96, 97
    link.output = lambda: wire.append


def vp8(data: bytes, timestamp: int, picture_id: int) -> PreparedFrame:
    return PreparedFrame.of("video/VP8", data, timestamp, not data[0] & 1, picture_id)


def parsed(wire: list[bytes]) -> list[RtpPacket]:
    return [RtpPacket.parse(packet) for packet in wire]


def picture(packet: RtpPacket) -> int:
    return int.from_bytes(packet.payload[VP8_PICTURE_ID], "big") & 0x7FFF


async def test_one_prepared_frame_serves_many_subscribers_with_their_own_headers(
    sender: Any,
) -> None:
    pc = RTCPeerConnection()
    other = pc.addTransceiver("video", "sendonly").sender
    wires: list[list[bytes]] = [[], []]
    streams = [RtpStream(s, "video", vp8=True) for s in (sender, other)]
    for stream, wire in zip(streams, wires, strict=True):
        connected(stream, wire)
    frame = vp8(KEY, 0, 700)
    for stream in streams:
        assert stream.write(frame)
    first, second = parsed(wires[0]), parsed(wires[1])
    assert len(first) == len(second) == len(frame.payloads) == 2
    assert [p.payload for p in first] == [p.payload for p in second] == list(frame.payloads)
    assert {p.ssrc for p in first} == {sender._ssrc} and {p.ssrc for p in second} == {other._ssrc}
    assert [p.marker for p in first] == [0, 1]  # the frame's last packet
    assert first[1].sequence_number == (first[0].sequence_number + 1) & 0xFFFF
    await pc.close()


async def test_a_new_source_continues_the_timeline_and_picture_ids_from_a_key_frame(
    sender: Any,
) -> None:
    asked: list[int] = []
    stream = RtpStream(sender, "video", vp8=True, on_key_needed=lambda: asked.append(1))
    wire: list[bytes] = []
    connected(stream, wire)
    stream.write(vp8(KEY, 90_000, 100))
    stream.write(vp8(DELTA, 93_000, 101))
    before = parsed(wire)
    wire.clear()

    stream.restart()  # another publisher takes the slot
    assert not stream.write(vp8(DELTA, 5_000_000, 9_000))  # not from a delta frame
    assert asked == [1]
    assert stream.write(vp8(KEY, 5_003_000, 9_001))
    stream.write(vp8(DELTA, 5_006_000, 9_002))
    after = parsed(wire)
    assert after[0].timestamp == (before[-1].timestamp + 3000) & 0xFFFFFFFF
    assert after[-1].timestamp == (after[0].timestamp + 3000) & 0xFFFFFFFF
    assert after[0].sequence_number == (before[-1].sequence_number + 1) & 0xFFFF
    assert [picture(p) for p in after] == [102, 102, 103]  # no jump for the browser
    assert picture(before[0]) == 100  # the first source's own ids went through unchanged


async def test_a_stream_starts_at_a_key_frame_once_its_connection_is_up(sender: Any) -> None:
    asked: list[int] = []
    stream = RtpStream(sender, "video", vp8=True, on_key_needed=lambda: asked.append(1))
    assert not stream.write(vp8(KEY, 0, 1))  # the connection is not up: nothing sent
    wire: list[bytes] = []
    connected(stream, wire)
    assert not stream.write(vp8(DELTA, 3000, 2))  # the key frame went nowhere: ask again
    assert asked == [1] and not wire
    assert stream.write(vp8(KEY, 6000, 3)) and wire


async def test_a_nack_is_answered_with_rtx(sender: Any) -> None:
    stream = RtpStream(sender, "video", vp8=True)
    wire: list[bytes] = []
    connected(stream, wire)
    stream.write(vp8(KEY, 0, 1))
    lost = parsed(wire)[1]
    wire.clear()
    await sender._retransmit(lost.sequence_number)  # what aiortc calls for a NACK
    await sender._retransmit((lost.sequence_number + 500) & 0xFFFF)  # long gone: ignored
    [rtx] = parsed(wire)
    assert rtx.payload_type == 97 and rtx.ssrc == sender._rtx_ssrc
    assert rtx.timestamp == lost.timestamp and rtx.marker == lost.marker
    assert rtx.payload == lost.sequence_number.to_bytes(2, "big") + lost.payload
    assert stream.packets_resent == 1


async def test_sender_reports_count_what_the_stream_sent(sender: Any) -> None:
    stream = RtpStream(sender, "video", vp8=True)
    wire: list[bytes] = []
    connected(stream, wire)
    frame = vp8(KEY, 0, 1)
    stream.write(frame)
    stats = await sender.getStats()
    [outbound] = [s for s in stats.values() if s.type == "outbound-rtp"]
    assert outbound.packetsSent == len(wire) and outbound.bytesSent == frame.octets


async def test_packets_carry_the_negotiated_mid_and_abs_send_time(sender: Any) -> None:
    """What the browser demultiplexes by (mid) and estimates its bandwidth from (abs-send-time,
    whose REMB moves stage viewers between renditions), read back by aiortc's own parser."""
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpHeaderExtensionParameters,
        RTCRtpSendParameters,
    )
    from aiortc.rtp import HeaderExtensionsMap

    from streaming.aiortc_compat import ABS_SEND_TIME_URI, MID_URI

    parameters = RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)],
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI),
                          RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI)],
        muxId="7")
    stream = RtpStream(sender, "video", vp8=True)
    wire: list[bytes] = []
    stream._link._negotiated(parameters)
    stream._link.output = lambda: wire.append  # type: ignore[method-assign]
    frame = vp8(KEY, 0, 1)
    stream.write(frame)
    extensions = HeaderExtensionsMap()
    extensions.configure(parameters)
    packets = [RtpPacket.parse(packet, extensions) for packet in wire]
    assert [p.extensions.mid for p in packets] == ["7", "7"]
    assert all(p.extensions.abs_send_time == int.from_bytes(frame.abs_send_time, "big")
               for p in packets)
    assert [p.payload for p in packets] == list(frame.payloads)


async def test_an_idle_slot_sends_no_sender_reports(sender: Any) -> None:
    """Under last-N most slots carry nobody: their sender's once-a-second report is skipped
    until the stream has sent something new."""
    reports: list[object] = []

    async def record(packets: list[object]) -> None:
        reports.append(packets)

    sender._send_rtcp = record  # what aiortc's report loop calls (captured by the stream)
    stream = RtpStream(sender, "video", vp8=True)
    wire: list[bytes] = []
    connected(stream, wire)
    await sender._send_rtcp(["report"])  # the loop's tick on an idle slot
    assert reports == []
    stream.write(vp8(KEY, 0, 1))
    await sender._send_rtcp(["report"])
    await sender._send_rtcp(["report"])  # nothing new since
    assert reports == [["report"]]


async def test_a_resent_packet_is_the_one_sent_even_long_after_and_renumbered(
    sender: Any,
) -> None:
    """A noisy key frame can be hundreds of packets: a NACK for one 300 packets back is still
    answered, and a VP8 packet goes out again with the picture id this stream gave it."""
    stream = RtpStream(sender, "video", vp8=True)
    wire: list[bytes] = []
    connected(stream, wire)
    stream.write(vp8(KEY, 0, 50))
    stream.restart()
    stream.write(vp8(KEY, 1_000_000, 7000))  # renumbered to 51
    renumbered = parsed(wire)[-1]
    assert picture(renumbered) == 51
    for n in range(150):  # 300 packets later
        stream.write(vp8(KEY, 1_003_000 + 3000 * n, 7001 + n))
    wire.clear()
    await sender._retransmit(renumbered.sequence_number)
    [rtx] = parsed(wire)
    assert rtx.payload[2:] == renumbered.payload  # after the original sequence number
    assert int.from_bytes(rtx.payload[2 + 2:2 + 4], "big") & 0x7FFF == 51
