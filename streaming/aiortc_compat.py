"""The aiortc internals the engine relies on, kept in one place.

aiortc 1.16 sends pre-encoded media: when a track's ``recv()`` returns an
``av.Packet`` instead of a frame, ``RTCRtpSender`` skips its encoder and calls
the codec's ``pack(packet)`` (H.264: Annex B bitstream, RTP timestamp from
``pts``/``time_base``). It offers no public hook for picture-loss requests in
that mode: a PLI or FIR only sets a private "force key frame" flag used by its
own encoder. We therefore override ``_send_keyframe`` on each sender instance.
:func:`check_aiortc_internals` fails loudly if an upgrade moves either piece;
``tests/unit/test_streaming_aiortc_compat.py`` runs it.

Breakout rooms forward instead of encoding. ``RTCRtpReceiver`` reassembles
each publisher's RTP into codec-level frames (``JitterFrame``: depayloaded
VP8 or Opus bytes plus a timestamp mapped to start at 0) and puts
``(codec, frame)`` on a private queue read by a decoder thread.
:func:`intercept_encoded` swaps that queue, before the receiver starts, for
one that hands the frames to us on the event loop, so no decoder is ever
created; ``None`` (the stop signal) still reaches the idle thread. It also
wraps the receiver's per-packet handler to read the ``ssrc-audio-level``
header extension (RFC 6464) without touching the payload. Picture-loss
requests go upstream through the receiver's private ``_send_rtcp_pli``.
:func:`restrict_negotiated_codecs` narrows what an answer accepts after the
offer is applied. Tests in ``tests/unit/test_streaming_room_compat.py``.
"""

from __future__ import annotations

import fractions
import inspect
import queue
from collections.abc import Awaitable, Callable
from typing import Any

import av
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

__all__ = [
    "AiortcIncompatible",
    "EncodedFrameHandler",
    "RtpObserver",
    "check_aiortc_internals",
    "intercept_encoded",
    "on_keyframe_request",
    "request_picture",
    "restrict_negotiated_codecs",
    "prefer_codec",
    "rtc_configuration",
]


class AiortcIncompatible(RuntimeError):
    """The installed aiortc no longer matches what this module relies on."""


def rtc_configuration(
    ice_servers: tuple[str, ...], *, max_bundle: bool = False
) -> RTCConfiguration:
    """Peer-connection configuration; an empty tuple means no STUN/TURN at all.

    aiortc falls back to Google's STUN server when ``iceServers`` is None, so
    the list is always passed explicitly. ``max_bundle`` is required as soon as
    a connection has two m-lines of one kind (breakout rooms): under aiortc's
    default "balanced" policy the second audio m-line stays on a transport the
    BUNDLE answer discards, and that track never flows.
    """
    servers = [RTCIceServer(urls=url) for url in ice_servers]
    if max_bundle:
        return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    return RTCConfiguration(iceServers=servers)


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Restrict a transceiver to one codec (plus RTX) so packets fit the sender."""
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    wanted = mime_type.lower()
    chosen = [c for c in caps if c.mimeType.lower() in (wanted, f"{transceiver.kind}/rtx")]
    transceiver.setCodecPreferences(chosen)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the remote peer sends a PLI or FIR for this sender."""
    setattr(sender, "_send_keyframe", callback)  # noqa: B010 - instance override on purpose


EncodedFrameHandler = Callable[[bytes, int], None]
"""Called with one complete encoded frame (codec bitstream) and its mapped RTP timestamp."""
RtpObserver = Callable[[RtpPacket], None]
"""Called with every RTP packet a receiver gets, before aiortc handles it."""

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


class _ForwardingQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: frames go to a handler, not a decoder."""

    def __init__(self, handler: EncodedFrameHandler) -> None:
        super().__init__()
        self._handler = handler

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops: let the idle decoder thread end
            super().put(item, block, timeout)
            return
        _codec, frame = item
        self._handler(frame.data, frame.timestamp)


def intercept_encoded(
    receiver: RTCRtpReceiver, on_frame: EncodedFrameHandler, on_rtp: RtpObserver
) -> None:
    """Take a receiver's encoded frames instead of letting aiortc decode them.

    Must be called after ``setRemoteDescription`` and before the connection
    starts the receiver (``setLocalDescription`` schedules that).
    """
    _require(hasattr(receiver, _DECODER_QUEUE), "RTCRtpReceiver has no decoder queue")
    setattr(receiver, _DECODER_QUEUE, _ForwardingQueue(on_frame))
    handle = receiver._handle_rtp_packet

    async def observed(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_rtp(packet)
        await handle(packet, arrival_time_ms)

    setattr(receiver, "_handle_rtp_packet", observed)  # noqa: B010 - instance override


def request_picture(receiver: RTCRtpReceiver, media_ssrc: int) -> Awaitable[None]:
    """Send a PLI for ``media_ssrc`` to the remote sender of this receiver."""
    send: Callable[[int], Awaitable[None]] = getattr(receiver, "_send_rtcp_pli")  # noqa: B009
    return send(media_ssrc)


def restrict_negotiated_codecs(transceiver: RTCRtpTransceiver, mime_type: str) -> bool:
    """After an offer is applied, keep only ``mime_type`` (and RTX) for the answer.

    Returns False when the offer did not include that codec.
    """
    wanted = mime_type.lower()
    codecs = [c for c in transceiver._codecs if c.mimeType.lower() == wanted]
    if not codecs:
        return False
    payload_types = {c.payloadType for c in codecs}
    rtx = [
        c for c in transceiver._codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in payload_types
    ]
    transceiver._codecs = codecs + rtx
    return True


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise AiortcIncompatible(f"aiortc changed: {what}")


def _check_pack() -> None:
    codec = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
    encoder: Any = get_encoder(codec)
    _require(hasattr(encoder, "pack"), "H.264 encoder has no pack()")
    packet = av.Packet(b"\x00\x00\x00\x01\x09\xf0")
    packet.pts = 90000
    packet.time_base = fractions.Fraction(1, 90000)
    payloads, timestamp = encoder.pack(packet)
    _require(payloads == [b"\x09\xf0"] and timestamp == 90000, "H.264 pack() output")


def check_aiortc_internals() -> None:
    """Raise :class:`AiortcIncompatible` if the relied-on internals moved."""
    _require(hasattr(RTCRtpSender, "_send_keyframe"), "RTCRtpSender._send_keyframe is gone")
    rtcp_source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    _require("self._send_keyframe()" in rtcp_source, "PLI/FIR no longer call _send_keyframe")
    next_frame = inspect.getsource(RTCRtpSender._next_encoded_frame)
    _require(".pack(data)" in next_frame, "senders no longer pack pre-encoded packets")
    _check_pack()
    _check_forwarding()


def _check_forwarding() -> None:
    init = inspect.getsource(RTCRtpReceiver.__init__)
    _require("self.__decoder_queue" in init, "RTCRtpReceiver.__decoder_queue is gone")
    receive = inspect.getsource(RTCRtpReceiver.receive)
    _require("self.__decoder_queue," in receive, "the decoder thread no longer reads the queue")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    _require(
        "self.__decoder_queue.put((codec, encoded_frame))" in handle,
        "receivers no longer queue (codec, encoded frame) for decoding",
    )
    _require("timestamp_mapper.map" in handle, "encoded frame timestamps are no longer mapped")
    _require(hasattr(RTCRtpReceiver, "_send_rtcp_pli"), "RTCRtpReceiver._send_rtcp_pli is gone")
    _require(
        set(inspect.signature(JitterFrame).parameters) == {"data", "timestamp"},
        "JitterFrame(data, timestamp) changed",
    )
    answer = inspect.getsource(RTCRtpTransceiver.__init__)
    _require("self._codecs" in answer, "RTCRtpTransceiver._codecs is gone")
