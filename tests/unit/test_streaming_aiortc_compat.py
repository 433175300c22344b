"""Fails loudly if an aiortc upgrade moves the internals the engine relies on."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from streaming.aiortc_compat import (
    check_aiortc_internals,
    on_keyframe_request,
    prefer_codec,
    rtc_configuration,
)


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
