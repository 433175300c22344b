"""The aiortc internals the engine relies on, kept in one place.

aiortc 1.16 sends pre-encoded media: when a track's ``recv()`` returns an
``av.Packet`` instead of a frame, ``RTCRtpSender`` skips its encoder and calls
the codec's ``pack(packet)`` (H.264: Annex B bitstream, RTP timestamp from
``pts``/``time_base``). It offers no public hook for picture-loss requests in
that mode: a PLI or FIR only sets a private "force key frame" flag used by its
own encoder. We therefore override ``_send_keyframe`` on each sender instance.
:func:`check_aiortc_internals` fails loudly if an upgrade moves either piece;
``tests/unit/test_streaming_aiortc_compat.py`` runs it.
"""

from __future__ import annotations

import fractions
import inspect
from collections.abc import Callable
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

__all__ = [
    "AiortcIncompatible",
    "check_aiortc_internals",
    "on_keyframe_request",
    "prefer_codec",
    "rtc_configuration",
]


class AiortcIncompatible(RuntimeError):
    """The installed aiortc no longer matches what this module relies on."""


def rtc_configuration(ice_servers: tuple[str, ...]) -> RTCConfiguration:
    """Peer-connection configuration; an empty tuple means no STUN/TURN at all.

    aiortc falls back to Google's STUN server when ``iceServers`` is None, so
    the list is always passed explicitly.
    """
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_servers])


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Restrict a transceiver to one codec (plus RTX) so packets fit the sender."""
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    wanted = mime_type.lower()
    chosen = [c for c in caps if c.mimeType.lower() in (wanted, f"{transceiver.kind}/rtx")]
    transceiver.setCodecPreferences(chosen)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the remote peer sends a PLI or FIR for this sender."""
    setattr(sender, "_send_keyframe", callback)  # noqa: B010 - instance override on purpose


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
