"""Fails loudly if an aiortc upgrade moves the internals the engine relies on."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCapabilities,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtpPacket,
)
from aiortc.sdp import MediaDescription, SessionDescription

from streaming.aiortc_compat import (
    AUDIO_LEVEL_URI,
    AiortcIncompatible,
    OfferedMedia,
    check_aiortc_internals,
    intercept_encoded,
    offered_media,
    on_keyframe_request,
    prefer_codec,
    rtc_configuration,
)

STREAMING = Path(__file__).resolve().parents[2] / "streaming"


def test_internals_still_match() -> None:
    check_aiortc_internals()


async def test_pli_and_fir_reach_our_keyframe_hook() -> None:
    pc = RTCPeerConnection(rtc_configuration(()))
    sender = pc.addTransceiver("video", direction="sendonly").sender
    requests: list[int] = []
    on_keyframe_request(sender, lambda: requests.append(1))
    for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
        rtcp = RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc)
        await sender._handle_rtcp_packet(rtcp)
    assert len(requests) == 2
    await pc.close()


async def test_preferred_codec_is_the_only_one_offered() -> None:
    pc = RTCPeerConnection(rtc_configuration(()))
    prefer_codec(pc.addTransceiver("video", direction="sendonly"), "video/H264")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    assert "H264/90000" in offer and "VP8" not in offer
    await pc.close()


def test_no_stun_server_by_default() -> None:
    assert rtc_configuration(()).iceServers == []


# -- what the breakout-room forwarding reads from aiortc (streaming/room.py goes through here) --

ROOM_MODULES = ("room.py", "forward.py", "room_peer.py")


def test_room_media_reaches_aiortc_internals_only_through_this_module() -> None:
    """No aiortc submodule but the public media-stream helpers, no private attribute."""
    allowed = {"aiortc", "aiortc.mediastreams"}
    for name in ROOM_MODULES:
        tree = ast.parse((STREAMING / name).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and n.level == 0 and n.module and n.module.startswith("aiortc")}
        assert imported <= allowed, (name, imported - allowed)
        touched = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not touched & {"extensions", "audio_level", "muxId", "_handle_rtp_packet",
                              "_codecs", "_send_rtcp_pli"}, name


async def test_audio_level_and_ssrc_reach_the_observer_as_the_transport_calls_it() -> None:
    pc = RTCPeerConnection(rtc_configuration((), max_bundle=True))
    receiver = pc.addTransceiver("audio", direction="recvonly").receiver
    seen: list[tuple[int, int | None]] = []
    intercept_encoded(receiver, lambda data, ts: None,
                      lambda ssrc, level: seen.append((ssrc, level)))
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=3, uri=AUDIO_LEVEL_URI)]))
    loud = RtpPacket(payload_type=111, sequence_number=7, ssrc=99, payload=b"\xf8")
    loud.extensions.audio_level = (True, 12)
    quiet = RtpPacket(payload_type=111, sequence_number=8, ssrc=99, payload=b"\xf8")
    for packet in (loud, quiet):
        parsed = RtpPacket.parse(packet.serialize(extensions), extensions)
        # exactly as RTCDtlsTransport._handle_rtp_data does: arrival_time_ms by keyword
        await receiver._handle_rtp_packet(parsed, arrival_time_ms=1000)
    assert seen == [(99, 12), (99, None)]
    await pc.close()


def test_a_changed_rtp_handler_signature_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    real = RTCRtpReceiver._handle_rtp_packet

    @functools.wraps(real)  # same body (getsource follows __wrapped__), another signature
    async def renamed(self: RTCRtpReceiver, packet: RtpPacket, arrival_ms: int) -> None:
        """A future aiortc that names the arrival time differently."""
        await real(self, packet, arrival_ms)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", renamed)
    with pytest.raises(AiortcIncompatible, match="signature"):
        check_aiortc_internals()


def test_a_transport_that_calls_the_handler_differently_is_detected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def positional(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        packet = RtpPacket.parse(data, self._rtp_header_extensions_map)
        receiver = self._rtp_router.route_rtp(packet)
        if receiver is not None:
            await receiver._handle_rtp_packet(packet, arrival_time_ms)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", positional)
    with pytest.raises(AiortcIncompatible, match="arrival_time_ms"):
        check_aiortc_internals()


def test_a_changed_audio_level_shape_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = HeaderExtensionsMap.get

    def level_only(self: HeaderExtensionsMap, profile: int, value: bytes) -> HeaderExtensions:
        """A future aiortc that keeps the level as a bare int, dropping the VAD flag."""
        found = real_get(self, profile, value)
        if found.audio_level is not None:
            found.audio_level = found.audio_level[1]
        return found

    monkeypatch.setattr(HeaderExtensionsMap, "get", level_only)
    with pytest.raises(AiortcIncompatible, match="audio level"):
        check_aiortc_internals()


def test_a_lost_audio_level_extension_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    real = RTCRtpReceiver.getCapabilities

    def without_level(kind: str) -> RTCRtpCapabilities:
        caps = real(kind)
        return RTCRtpCapabilities(codecs=caps.codecs, headerExtensions=[
            h for h in caps.headerExtensions if h.uri != AUDIO_LEVEL_URI])

    monkeypatch.setattr(RTCRtpReceiver, "getCapabilities", staticmethod(without_level))
    with pytest.raises(AiortcIncompatible, match="ssrc-audio-level"):
        check_aiortc_internals()


def test_offered_media_reads_the_m_lines() -> None:
    session = SessionDescription.parse(SAMPLE_OFFER)
    assert offered_media(session) == [
        OfferedMedia("0", "video", "sendonly", 9, frozenset({"video/vp8"})),
        OfferedMedia("1", "audio", "sendrecv", 9, frozenset({"audio/opus"})),
    ]


def test_a_changed_sdp_media_description_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    # A future aiortc that keeps the direction elsewhere: `direction` always reads None.
    ignored = property(lambda self: None, lambda self, value: None)
    monkeypatch.setattr(MediaDescription, "direction", ignored, raising=False)
    with pytest.raises(AiortcIncompatible, match="SDP"):
        check_aiortc_internals()


SAMPLE_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
)
