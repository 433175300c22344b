"""Offer validation: what a WHIP/WHEP endpoint must refuse before aiortc sees it."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from streaming.aiortc_compat import rtc_configuration
from streaming.errors import StreamingError
from streaming.sdp import MAX_SDP_BYTES, validate_offer


async def _offer(direction: str, kinds: tuple[str, ...] = ("video", "audio")) -> str:
    pc = RTCPeerConnection(rtc_configuration(()))
    for kind in kinds:
        pc.addTransceiver(kind, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


def _code(offer: str, purpose: str) -> str:
    with pytest.raises(StreamingError) as caught:
        validate_offer(offer, purpose)  # type: ignore[arg-type]
    return caught.value.code


async def test_real_offers_pass() -> None:
    assert validate_offer(await _offer("sendonly"), "publish").media
    assert validate_offer(await _offer("recvonly"), "view").media


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "hello", "v=0\r\nm=video", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", "x" * 70000],
)
def test_malformed_offers_are_invalid(garbage: str) -> None:
    assert _code(garbage, "publish") == "sdp.invalid"


def test_oversized_offer_is_invalid() -> None:
    offer = "v=0\r\n" + "a=x\r\n" * (MAX_SDP_BYTES // 5)
    with pytest.raises(StreamingError, match="larger than"):
        validate_offer(offer, "view")


async def test_publish_offer_must_send() -> None:
    assert _code(await _offer("recvonly"), "publish") == "sdp.invalid"


async def test_view_offer_must_receive() -> None:
    assert _code(await _offer("sendonly"), "view") == "sdp.invalid"


async def test_view_offer_without_h264_is_invalid() -> None:
    offer = await _offer("recvonly", ("video",))
    vp8_only = "\r\n".join(
        line for line in offer.split("\r\n") if "H264" not in line and "profile-level" not in line
    )
    with pytest.raises(StreamingError, match="h264"):
        validate_offer(vp8_only, "view")


async def test_offer_without_ice_credentials_is_invalid() -> None:
    offer = await _offer("sendonly")
    stripped = "\r\n".join(line for line in offer.split("\r\n") if "ice-pwd" not in line)
    assert _code(stripped, "publish") == "sdp.invalid"
