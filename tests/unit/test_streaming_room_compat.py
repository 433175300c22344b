"""Forwarding relies on aiortc internals: these tests fail loudly when an upgrade moves them."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame

from streaming.aiortc_compat import (
    AiortcIncompatible,
    check_aiortc_internals,
    intercept_encoded,
    restrict_negotiated_codecs,
    rtc_configuration,
)


def test_forwarding_internals_still_match() -> None:
    check_aiortc_internals()


def test_a_receiver_that_stops_queueing_encoded_frames_is_detected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def decodes_elsewhere(self: RTCRtpReceiver, packet: object, arrival_time_ms: int) -> None:
        """A future aiortc that no longer puts (codec, encoded_frame) on the queue."""

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", decodes_elsewhere)
    with pytest.raises(AiortcIncompatible, match="encoded frame"):
        check_aiortc_internals()


async def test_intercepted_frames_skip_the_decoder_and_stop_still_ends_it() -> None:
    pc = RTCPeerConnection(rtc_configuration((), max_bundle=True))
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    frames: list[tuple[bytes, int]] = []
    intercept_encoded(receiver, lambda data, ts: frames.append((data, ts)),
                      lambda ssrc, level: None)
    queue = receiver._RTCRtpReceiver__decoder_queue
    queue.put((None, JitterFrame(data=b"\x10vp8", timestamp=3000)))
    queue.put(None)
    assert frames == [(b"\x10vp8", 3000)]
    assert queue.get_nowait() is None  # the stop signal still reaches the decoder thread
    await pc.close()


async def test_answer_keeps_only_the_room_codec() -> None:
    offerer = RTCPeerConnection(rtc_configuration(()))
    offerer.addTransceiver("video", direction="sendonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    answerer = RTCPeerConnection(rtc_configuration(()))
    await answerer.setRemoteDescription(offerer.localDescription)
    transceiver = answerer.getTransceivers()[0]
    assert restrict_negotiated_codecs(transceiver, "video/VP8")
    await answerer.setLocalDescription(await answerer.createAnswer())
    answer = answerer.localDescription.sdp
    assert "VP8/90000" in answer and "H264" not in answer
    assert not restrict_negotiated_codecs(transceiver, "video/AV1")
    await offerer.close()
    await answerer.close()
