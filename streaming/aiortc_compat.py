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
header extension (RFC 6464) without touching the payload: the wrapper
relies on the handler's signature ``(packet, arrival_time_ms)`` (the DTLS
transport passes ``arrival_time_ms`` by keyword) and on aiortc parsing the
level into ``packet.extensions.audio_level == (voice_activity, dbov)``; the
room only ever sees ``(ssrc, level)``. Picture-loss requests go upstream
through the receiver's private ``_send_rtcp_pli``.
:func:`restrict_negotiated_codecs` narrows what an answer accepts after the
offer is applied, and :func:`offered_media` reads the m-lines of a parsed
offer (``aiortc.sdp``) into plain values, so no other module touches
``aiortc.rtp`` or ``aiortc.sdp``. Tests in
``tests/unit/test_streaming_aiortc_compat.py`` and
``tests/unit/test_streaming_room_compat.py``.

Forward once (rooms and stage): aiortc's sender runs one coroutine per subscriber that
packetizes every frame again and builds, serializes, encrypts and sends each packet through
several awaits. Instead, :func:`packetize` makes a frame's RTP payloads once (aiortc's own
packetizers: VP8 with a picture id, H.264, Opus as is) and a :class:`SenderLink` writes them
as one sender's stream: it learns the negotiated payload types, RTX and header extension ids
by wrapping the instance's ``send`` (the connection calls it with the answer's parameters),
encrypts with the DTLS transport's ``_tx_srtp`` and hands the packet to the selected
candidate pair's datagram transport (a UDP socket or aioice's ``TurnTransport``, both with a
synchronous ``sendto``); it keeps the sender's RTCP sender-report counters (``__packet_count``
and friends) true, and answers NACKs through the instance's ``_retransmit``. The sender's own
track is parked (its ``recv()`` never returns) so its loop costs nothing.

DTLS with any peer: aiortc's certificate is ECDSA and its SSL context offers ECDHE-ECDSA suites
only, so as the DTLS *client* it cannot talk to a peer whose certificate is RSA (GStreamer's
webrtcbin in Debian 12, hardware encoders): "no shared cipher". :func:`accept_rsa_peers` wraps
``RTCCertificate._create_ssl_context`` to offer the ECDHE-RSA suites as well (our own
certificate stays ECDSA, so as the DTLS server nothing changes); installed by
:func:`check_aiortc_internals`, which also checks that the context still sets its list in one
call that can be replaced (tests/unit/test_streaming_aiortc_compat.py).
"""

from __future__ import annotations

import fractions
import inspect
import queue
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import av
from aioice.ice import Connection, StunProtocol
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.clock import current_ntp_time
from aiortc.codecs import get_encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcpeerconnection import RTCPeerConnection
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)
from aiortc.rtp import RtcpPacket as _RtcpPacket
from aiortc.sdp import SessionDescription

from .config import IceServers

__all__ = [
    "AUDIO_LEVEL_URI",
    "AiortcIncompatible",
    "EncodedFrameHandler",
    "OfferedMedia",
    "RtpObserver",
    "SenderLink",
    "VP8_PICTURE_ID",
    "audio_level",
    "check_aiortc_internals",
    "intercept_encoded",
    "offered_media",
    "limit_retransmissions",
    "on_keyframe_request",
    "on_receiver_feedback",
    "packetize",
    "request_picture",
    "restrict_negotiated_codecs",
    "prefer_codec",
    "rtc_configuration",
]


class AiortcIncompatible(RuntimeError):
    """The installed aiortc no longer matches what this module relies on."""


def rtc_configuration(
    ice_servers: IceServers, *, max_bundle: bool = False
) -> RTCConfiguration:
    """Peer-connection configuration; an empty tuple means no STUN/TURN at all.

    aiortc falls back to Google's STUN server when ``iceServers`` is None, so
    the list is always passed explicitly. ``max_bundle`` is required as soon as
    a connection has two m-lines of one kind (breakout rooms): under aiortc's
    default "balanced" policy the second audio m-line stays on a transport the
    BUNDLE answer discards, and that track never flows.
    """
    servers = [
        RTCIceServer(urls=s) if isinstance(s, str)
        else RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
        for s in ice_servers
    ]
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


RETRANSMIT_PACKET_BYTES = 1200
"""What one resent packet is counted as against the budget (aiortc fills packets to ~1200)."""


def limit_retransmissions(sender: RTCRtpSender, budget_bps: Callable[[], float]) -> None:
    """Resend NACKed packets only within a budget (bits per second, asked at each NACK; a token
    bucket holding a quarter of a second of it). aiortc resends whatever a browser asks for: on
    a congested line that adds to what made it lose packets, and a 1 Mbit/s line with 2 % loss
    went to 60 % loss and a frozen picture that way. An instance override of ``_retransmit``,
    which ``_handle_rtcp_packet`` calls for every sequence number a NACK names."""
    retransmit = sender._retransmit
    bucket = [0.0, time.monotonic()]  # tokens (bytes), when they were counted

    async def limited(sequence_number: int) -> None:
        now = time.monotonic()
        rate = budget_bps() / 8
        bucket[0] = min(rate / 4, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] < RETRANSMIT_PACKET_BYTES:
            return
        bucket[0] -= RETRANSMIT_PACKET_BYTES
        await retransmit(sequence_number)

    setattr(sender, "_retransmit", limited)  # noqa: B010 - instance override on purpose


ReceiverFeedback = Callable[[tuple[int, int] | None, int | None], None]
"""Called with what a viewer's browser reports of one sender's stream: from an RTCP receiver
report, ``(packets lost so far, highest sequence number received)`` (cumulative, so the loss
over any interval follows; the report's own fraction covers only the time since the browser's
previous report, which may be 50 ms); or, from REMB, its estimate of the bitrate it can
receive (bits per second). The other argument is ``None``."""


def on_receiver_feedback(sender: RTCRtpSender, callback: ReceiverFeedback) -> None:
    """Call ``callback`` with every receiver report and REMB the remote peer sends about this
    sender's stream, after aiortc has handled the packet (an instance override of
    ``_handle_rtcp_packet``, which the DTLS transport looks up for every RTCP packet)."""
    handle = sender._handle_rtcp_packet

    async def observed(packet: Any) -> None:
        await handle(packet)
        ssrc = sender._ssrc
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == ssrc:
                    callback((report.packets_lost, report.highest_sequence), None)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if ssrc in ssrcs:
                callback(None, int(bitrate))

    setattr(sender, "_handle_rtcp_packet", observed)  # noqa: B010 - instance override on purpose


VP8_PICTURE_ID = slice(2, 4)
"""Where :func:`packetize` puts a VP8 payload's 15-bit picture id (with the M bit set): after
the descriptor's first octet and its extension octet (I set), in every payload of a frame."""


def packetize(mime_type: str, data: bytes, picture_id: int = 0) -> list[bytes]:
    """One encoded frame's RTP payloads, as aiortc's own sender would make them (at most ~1300
    bytes each): VP8 with ``picture_id`` in every descriptor, H.264 as FU-A/STAP-A, Opus (and
    anything else) as one payload."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return Vp8Encoder._packetize(data, picture_id)
    if mime == "video/h264":
        return H264Encoder._packetize(H264Encoder._split_bitstream(data))
    return [data]


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class SenderLink:
    """Writes RTP as one :class:`RTCRtpSender`'s stream without its loop (see the module
    notes). ``on_nack`` is called with each sequence number the peer reports lost.

    Create it before the connection applies its answer (it learns the parameters then); until
    the DTLS transport is up :meth:`output` is ``None``.
    """

    def __init__(self, sender: RTCRtpSender, on_nack: Callable[[int], None]) -> None:
        self._sender = sender
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        self.payload_type: int | None = None
        self.rtx_payload_type: int | None = None
        # The header extensions of every packet: the bytes before the abs-send-time value and
        # after it (b"" and None when it is not negotiated).
        self._before: bytes = b""
        self._after: bytes | None = None
        self._dtls: RTCDtlsTransport | None = None
        self._send: Callable[[bytes], None] | None = None
        send = sender.send

        async def negotiated(parameters: RTCRtpSendParameters) -> None:
            if self.payload_type is None:
                self._negotiated(parameters)
            await send(parameters)

        async def retransmit(sequence_number: int) -> None:
            on_nack(sequence_number)

        send_rtcp = sender._send_rtcp
        self._reported = 0

        async def report(packets: list[Any]) -> None:
            """The sender's report each second, only when the stream sent something since the
            last: a room of 25 has 48 slots per person, most of them idle under last-N."""
            sent = getattr(sender, "_RTCRtpSender__packet_count", 0)
            if sent == self._reported:
                return
            self._reported = sent
            await send_rtcp(packets)

        setattr(sender, "send", negotiated)  # noqa: B010 - instance override on purpose
        setattr(sender, "_retransmit", retransmit)  # noqa: B010 - instance override on purpose
        setattr(sender, "_send_rtcp", report)  # noqa: B010 - instance override on purpose

    def _negotiated(self, parameters: RTCRtpSendParameters) -> None:
        primary = parameters.codecs[0]
        self.rtx_payload_type = next(
            (c.payloadType for c in parameters.codecs
             if c.mimeType.lower().endswith("/rtx")
             and c.parameters.get("apt") == primary.payloadType),
            None)
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        self._before, self._after = _extension_layout(
            ids.get(MID_URI), parameters.muxId, ids.get(ABS_SEND_TIME_URI))
        self.payload_type = primary.payloadType

    def extension_block(self, abs_send_time: bytes) -> bytes:
        """The header extensions of every packet of one frame (mid, abs-send-time: what the
        browser's demultiplexer and bandwidth estimate read; one-byte form, RFC 8285), with
        their profile and length words; ``b""`` when none were negotiated. ``abs_send_time``:
        the value's three bytes."""
        if self._after is None:
            return self._before
        return self._before + abs_send_time + self._after

    def output(self) -> Callable[[bytes], None] | None:
        """A function that encrypts one plain RTP packet and sends it to the peer, or ``None``
        while the connection is not up (or no longer is)."""
        dtls = self._dtls
        if dtls is not None and dtls._state is DtlsState.CONNECTED:
            return self._send
        dtls = self._sender.transport
        if dtls is None or dtls._state != DtlsState.CONNECTED or self.payload_type is None:
            return None
        connection: Connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is None or pair.protocol is None or pair.protocol.transport is None:
            return None
        protect = dtls._tx_srtp.protect
        sendto = pair.protocol.transport.sendto
        address = pair.remote_addr

        def send(packet: bytes) -> None:
            sendto(protect(packet), address)

        self._dtls, self._send = dtls, send  # the selected pair stays once DTLS is up
        return send

    def sent(self, ntp_timestamp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        """Count what was sent for the sender's RTCP sender reports (lip sync, round trip)."""
        sender: Any = self._sender
        sender._RTCRtpSender__ntp_timestamp = ntp_timestamp
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp
        sender._RTCRtpSender__packet_count += packets
        sender._RTCRtpSender__octet_count += octets


def _extension_layout(
    mid_id: int | None, mid: str | None, abs_id: int | None
) -> tuple[bytes, bytes | None]:
    """RFC 8285 one-byte header extensions: ``0xBEDE``, length in words, elements (id and
    length-1 in one byte, then the value), zero padding; split around the abs-send-time value."""
    head = b""
    if mid_id and mid and 1 <= len(mid.encode()) <= 16:
        value = mid.encode()
        head = bytes(((mid_id << 4) | (len(value) - 1),)) + value
    if abs_id:
        body_length = len(head) + 4
    elif head:
        body_length = len(head)
    else:
        return b"", None
    padding = bytes(-body_length % 4)
    words = struct.pack("!HH", 0xBEDE, (body_length + len(padding)) // 4)
    if not abs_id:
        return words + head + padding, None
    return words + head + bytes(((abs_id << 4) | 2,)), padding


def ntp_now() -> int:
    """The NTP time sender reports carry (64-bit fixed point)."""
    return current_ntp_time()


EncodedFrameHandler = Callable[[bytes, int], None]
"""Called with one complete encoded frame (codec bitstream) and its mapped RTP timestamp."""
RtpObserver = Callable[[int, int | None], None]
"""Called with every RTP packet a receiver gets, before aiortc handles it: the packet's SSRC
and its ``ssrc-audio-level`` (0 = loudest .. 127 = silence, in -dBov) or ``None``."""

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def audio_level(packet: RtpPacket) -> int | None:
    """The RFC 6464 level of a parsed packet (-dBov, 0..127), ``None`` if it carries none.

    aiortc parses the extension into ``packet.extensions.audio_level`` as
    ``(voice_activity: bool, level: int)``.
    """
    value = packet.extensions.audio_level
    if value is None:
        return None
    _voice, level = value
    return int(level)

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
        on_rtp(packet.ssrc, audio_level(packet))
        await handle(packet, arrival_time_ms=arrival_time_ms)

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


@dataclass(frozen=True)
class OfferedMedia:
    """One m-line of an offer, as plain values."""

    mid: str | None
    kind: str
    direction: str  # "sendrecv" when the offer names none (the SDP default)
    port: int  # 0: the m-line is rejected / disabled
    codecs: frozenset[str]  # lower-case MIME types, e.g. "video/vp8"
    ufrag: str | None = None  # the ICE username fragment: a new one is a new connection


def offered_media(session: SessionDescription) -> list[OfferedMedia]:
    """The m-lines of an offer parsed by ``aiortc.sdp`` (``streaming.sdp.validate_offer``)."""
    return [
        OfferedMedia(
            m.rtp.muxId or None, m.kind, m.direction or "sendrecv", int(m.port),
            frozenset(c.mimeType.lower() for c in m.rtp.codecs),
            m.ice.usernameFragment if m.ice else None,
        )
        for m in session.media
    ]


DTLS_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
)
"""What our DTLS offers: aiortc's ECDSA suites, and the same with RSA authentication."""


def accept_rsa_peers() -> None:
    """Make every new DTLS context offer DTLS_CIPHERS (idempotent)."""
    original = RTCCertificate._create_ssl_context
    if getattr(original, "_traffpunkt_rsa", False):
        return

    def create(self: RTCCertificate, srtp_profiles: Any) -> Any:
        ctx = original(self, srtp_profiles)
        ctx.set_cipher_list(DTLS_CIPHERS)
        return ctx

    create._traffpunkt_rsa = True  # type: ignore[attr-defined]
    create.__wrapped__ = original  # type: ignore[attr-defined]
    RTCCertificate._create_ssl_context = create  # type: ignore[method-assign]


def _check_dtls_ciphers() -> None:
    original = inspect.getsource(RTCCertificate._create_ssl_context)
    _require("set_cipher_list(" in original or "_traffpunkt_rsa" in original,
             "RTCCertificate._create_ssl_context no longer sets a cipher list")


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
    _check_rtp_observer()
    _check_audio_level()
    _check_offered_media()
    _check_dtls_ciphers()
    _check_receiver_feedback()
    _check_writing()
    accept_rsa_peers()


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


def _check_rtp_observer() -> None:
    """``intercept_encoded`` replaces the handler the DTLS transport calls for every packet."""
    handler = RTCRtpReceiver._handle_rtp_packet
    params = list(inspect.signature(handler, follow_wrapped=False).parameters)
    _require(params == ["self", "packet", "arrival_time_ms"],
             f"RTCRtpReceiver._handle_rtp_packet{tuple(params)} changed its signature")
    route = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    _require("RtpPacket.parse(data, self._rtp_header_extensions_map)" in route,
             "the DTLS transport no longer parses RTP header extensions before routing")
    _require("._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in route,
             "the DTLS transport no longer calls receiver._handle_rtp_packet(packet, "
             "arrival_time_ms=...)")


def _check_audio_level() -> None:
    """aiortc negotiates ssrc-audio-level and parses it into ``(voice, level)``."""
    caps = RTCRtpReceiver.getCapabilities("audio")
    _require(caps is not None and any(h.uri == AUDIO_LEVEL_URI for h in caps.headerExtensions),
             "aiortc no longer negotiates the ssrc-audio-level header extension")
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri=AUDIO_LEVEL_URI)]))
    packet = RtpPacket(payload_type=111, sequence_number=1, timestamp=960, ssrc=4242,
                       payload=b"\xf8")
    packet.extensions.audio_level = (True, 42)
    try:
        parsed = RtpPacket.parse(packet.serialize(extensions), extensions)
        got = (parsed.ssrc, audio_level(parsed))
    except Exception as exc:  # the shape changed (not a pair, renamed, ...)
        raise AiortcIncompatible(f"aiortc changed: RTP audio level parsing ({exc!r})") from exc
    _require(got == (4242, 42), f"RTP ssrc / audio level read back as {got}")


_SAMPLE_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "a=ice-ufrag:Ab12\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
    "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
    "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n"
    "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
)


def _check_offered_media() -> None:
    """``aiortc.sdp`` still exposes mid, kind, direction, port, codecs and ICE username
    fragment of an m-line."""
    try:
        got = offered_media(SessionDescription.parse(_SAMPLE_OFFER))
    except Exception as exc:
        raise AiortcIncompatible(f"aiortc changed: SDP m-line parsing ({exc!r})") from exc
    want = [
        OfferedMedia("0", "video", "sendonly", 9, frozenset({"video/vp8"}), "Ab12"),
        OfferedMedia("1", "audio", "recvonly", 0, frozenset({"audio/opus"})),
    ]
    _require(got == want, f"SDP m-lines read back as {got}")


def _check_receiver_feedback() -> None:
    """The DTLS transport still hands every RTCP packet to ``recipient._handle_rtcp_packet``,
    senders still know their ``_ssrc``, and RR and REMB still parse as relied on."""
    route = inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    _require("recipient._handle_rtcp_packet(packet)" in route,
             "the DTLS transport no longer calls recipient._handle_rtcp_packet(packet)")
    _require("self._ssrc" in inspect.getsource(RTCRtpSender.__init__),
             "RTCRtpSender._ssrc is gone")
    _require("await self._retransmit(seq)" in inspect.getsource(RTCRtpSender._handle_rtcp_packet),
             "NACKs no longer resend through RTCRtpSender._retransmit")
    try:
        report = RtcpReceiverInfo(ssrc=7, fraction_lost=64, packets_lost=1, highest_sequence=1,
                                  jitter=0, lsr=0, dlsr=0)
        [rr] = _RtcpPacket.parse(bytes(RtcpRrPacket(ssrc=1, reports=[report])))
        remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0,
                              fci=pack_remb_fci(800_000, [7]))
        [parsed_remb] = _RtcpPacket.parse(bytes(remb))
        assert isinstance(rr, RtcpRrPacket) and isinstance(parsed_remb, RtcpPsfbPacket)
        block = rr.reports[0]
        got = ((block.packets_lost, block.highest_sequence), unpack_remb_fci(parsed_remb.fci))
    except Exception as exc:
        raise AiortcIncompatible(f"aiortc changed: RTCP RR/REMB ({exc!r})") from exc
    _require(got[0] == (1, 1) and got[1][1] == [7] and abs(got[1][0] - 800_000) < 1000,
             f"RTCP RR/REMB read back as {got}")


def _check_writing() -> None:
    """What :class:`SenderLink` and :func:`packetize` rely on."""
    connect = inspect.getsource(RTCPeerConnection)
    _require("await transceiver.sender.send(" in connect,
             "the connection no longer starts senders through sender.send(parameters)")
    init = inspect.getsource(RTCRtpSender.__init__)
    for counter in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count",
                    "_rtx_ssrc"):
        _require(f"self.{counter} = " in init, f"RTCRtpSender.{counter} is gone")
    run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    _require("packet_count=self.__packet_count" in run_rtcp,
             "sender reports no longer read RTCRtpSender.__packet_count")
    _require("await self._send_rtcp(packets)" in run_rtcp,
             "sender reports no longer go out through RTCRtpSender._send_rtcp")
    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    _require("self._tx_srtp.protect(data)" in send_rtp and "State.CONNECTED" in send_rtp,
             "the DTLS transport no longer protects RTP with _tx_srtp once connected")
    _require("self._nominated" in inspect.getsource(Connection.sendto),
             "aioice no longer sends on its nominated pair")
    _require("self.transport.sendto(data, addr)" in inspect.getsource(StunProtocol.send_data),
             "aioice's protocol no longer sends with transport.sendto")
    try:
        vp8 = packetize("video/vp8", bytes(3000), 0x1234)
        h264 = packetize("video/h264", b"\x00\x00\x00\x01\x65" + bytes(3000))
        profile_and_value = HeaderExtensionsMap().set(HeaderExtensions(mid="0"))
    except Exception as exc:
        raise AiortcIncompatible(f"aiortc changed: packetizers ({exc!r})") from exc
    _require(len(vp8) == 3 and all(p[VP8_PICTURE_ID] == b"\x92\x34" for p in vp8)
             and bool(vp8[0][0] & 0x10) and not vp8[1][0] & 0x10,
             "the VP8 packetizer's descriptor (picture id) changed")
    _require(len(h264) == 3 and h264[0][0] & 0x1F == 28, "the H.264 packetizer changed")
    _require(profile_and_value == (0, b""), "HeaderExtensionsMap.set changed")
