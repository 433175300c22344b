"""Forward once: a frame is made into RTP payloads once, and each subscriber only gets its own
header and encryption.

A :class:`PreparedFrame` is one encoded frame (a breakout-room publisher's VP8 or Opus, a
stage rendition's H.264, the stage's Opus) already cut into RTP payloads, shared by every
subscriber and never modified. An :class:`RtpStream` is one subscriber's m-line: it writes
the shared payloads as that sender's stream (its SSRC, sequence numbers, timestamps on its own
timeline, VP8 picture ids continuing its own count, header extensions), encrypts and sends
them at once (:class:`streaming.aiortc_compat.SenderLink`), keeps what it sent for NACKs
(resent as RTX when negotiated) and waits for a key frame whenever its video starts or its
source changes. The sender's aiortc track is a :class:`ParkedTrack`: its loop never wakes.

Measured with ``bench/room_media.py``: aiortc's per-subscriber sender loop cost 1.9-2.3 % of a
core per forwarded stream here; see the README's benchmark table for this path.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from .aiortc_compat import VP8_PICTURE_ID, SenderLink, ntp_now, packetize

__all__ = ["ParkedTrack", "PreparedFrame", "RtpStream", "abs_send_time"]

CLOCK = {"video": 90000, "audio": 48000}
# One frame at 30 fps, one 20 ms Opus packet: the gap left when a stream changes source.
STEP = {"video": 3000, "audio": 960}
# Packets kept for NACKs: about two seconds of 720p (a noisy picture's key frame alone can
# be a few hundred packets; libwebrtc keeps at least 600). An entry holds the shared payload,
# not a copy, so this costs little per subscriber.
HISTORY = 512
# A stream that waits for a key frame asks its source again at most this often.
KEY_ASK_INTERVAL = 0.5
_NTP_OFFSET = 2208988800  # seconds from 1900 to 1970
# The fixed 12-byte RTP header: V=2 and X, M and payload type, sequence, timestamp, SSRC.
_HEADER = struct.Struct("!BBHII").pack


def abs_send_time(now: float | None = None) -> bytes:
    """The abs-send-time header extension's value: seconds, 6.18 fixed point, 24 bits."""
    value = int(((time.time() if now is None else now) + _NTP_OFFSET) * (1 << 18)) & 0xFFFFFF
    return value.to_bytes(3, "big")


@dataclass(frozen=True, slots=True)
class PreparedFrame:
    """One encoded frame cut into RTP payloads once; shared, never modified.

    ``timestamp`` is on the source's clock (90 kHz video, 48 kHz audio), ``picture_id`` the
    VP8 picture id written into the payloads, ``data`` the frame as encoded (a subscriber
    that packetizes by itself, such as a benchmark's baseline, takes it).
    """

    payloads: tuple[bytes, ...]
    timestamp: int
    keyframe: bool
    data: bytes
    octets: int
    picture_id: int = 0
    abs_send_time: bytes = b"\x00\x00\x00"
    ntp: int = 0

    @classmethod
    def of(cls, mime_type: str, data: bytes, timestamp: int, keyframe: bool,
           picture_id: int = 0) -> PreparedFrame:
        payloads = tuple(packetize(mime_type, data, picture_id))
        return cls(payloads, timestamp, keyframe, data, sum(len(p) for p in payloads),
                   picture_id, abs_send_time(), ntp_now())


class RtpStream:
    """One subscriber's stream of one kind, written from shared :class:`PreparedFrame` s.

    ``on_key_needed`` is called (at most every :data:`KEY_ASK_INTERVAL`) while a video stream
    waits for a key frame its source has not sent yet: a stream whose connection came up after
    the key frame its joining asked for, or one that changed source.
    """

    def __init__(self, sender: RTCRtpSender, kind: str, *, vp8: bool = False,
                 on_key_needed: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._link = SenderLink(sender, self._nack)
        self._vp8 = vp8
        self._on_key_needed = on_key_needed
        self._sequence = random.getrandbits(16)
        self._rtx_sequence = random.getrandbits(16)
        self._origin = random.getrandbits(32)
        self._need_key = kind == "video"
        self._asked_at = 0.0
        self._offset: int | None = 0  # source timestamp -> ours (None: set at the next frame)
        self._last_out = -STEP[kind]
        self._picture_offset: int | None = 0
        self._last_picture = -1
        self._history: list[tuple[int, bytes, bytes, bytes] | None] = [None] * HISTORY
        self.frames_sent = 0
        self.packets_sent = 0
        self.packets_resent = 0

    @property
    def waiting_for_key(self) -> bool:
        return self._need_key

    def restart(self) -> None:
        """The next frames come from another source: continue our own timeline and picture
        ids, from its next key frame."""
        self._offset = None
        self._picture_offset = None
        self._need_key = self.kind == "video"

    def write(self, frame: PreparedFrame) -> bool:
        """Send one frame now; False if it was not sent (not connected, waiting for a key)."""
        if self._need_key and not frame.keyframe:
            self._ask_key()
            return False
        send = self._link.output()
        if send is None:
            self._need_key = self.kind == "video"
            return False
        self._need_key = False
        link = self._link
        if self._offset is None:
            self._offset = self._last_out + STEP[self.kind] - frame.timestamp
        timestamp = (frame.timestamp + self._offset) & 0xFFFFFFFF
        self._last_out = frame.timestamp + self._offset
        rtp_timestamp = (self._origin + timestamp) & 0xFFFFFFFF
        extension = link.extension_block(frame.abs_send_time)
        payloads = frame.payloads
        picture = self._renumber(frame) if self._vp8 else b""
        sequence, history, last = self._sequence, self._history, len(payloads) - 1
        assert link.payload_type is not None
        first = 0x90 if extension else 0x80
        payload_type, ssrc = link.payload_type, link.ssrc
        for index, payload in enumerate(payloads):
            header = _HEADER(first, payload_type | (0x80 if index == last else 0), sequence,
                             rtp_timestamp, ssrc) + extension
            history[sequence % HISTORY] = (sequence, header, payload, picture)
            send(header + _with_picture(payload, picture) if picture else header + payload)
            sequence = (sequence + 1) & 0xFFFF
        self._sequence = sequence
        self.frames_sent += 1
        self.packets_sent += len(payloads)
        link.sent(frame.ntp, rtp_timestamp, len(payloads), frame.octets)
        return True

    def _renumber(self, frame: PreparedFrame) -> bytes:
        """VP8 picture ids continue this stream's own count across sources (as an SFU's
        layer switch does), so the browser's reference finder never sees a jump: the picture-id
        field this stream writes into the frame's payloads, ``b""`` when theirs is ours."""
        if self._picture_offset is None:
            self._picture_offset = self._last_picture + 1 - frame.picture_id
        picture = (frame.picture_id + self._picture_offset) & 0x7FFF
        self._last_picture = picture
        if picture == frame.picture_id:
            return b""
        return struct.pack("!H", 0x8000 | picture)

    def _ask_key(self) -> None:
        now = time.monotonic()
        if self._on_key_needed is not None and now - self._asked_at >= KEY_ASK_INTERVAL:
            self._asked_at = now
            self._on_key_needed()

    def _nack(self, sequence_number: int) -> None:
        """The peer lost this packet: send it again (as RTX when negotiated)."""
        entry = self._history[sequence_number % HISTORY]
        send = self._link.output()
        if entry is None or entry[0] != sequence_number or send is None:
            return
        _, header, payload, picture = entry
        if picture:
            payload = _with_picture(payload, picture)
        link = self._link
        if link.rtx_payload_type is not None:
            header = (bytes((header[0], (header[1] & 0x80) | link.rtx_payload_type))
                      + struct.pack("!H", self._rtx_sequence) + header[4:8]
                      + struct.pack("!I", link.rtx_ssrc) + header[12:])
            payload = struct.pack("!H", sequence_number) + payload
            self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
        self.packets_resent += 1
        send(header + payload)


def _with_picture(payload: bytes, picture: bytes) -> bytes:
    """A VP8 payload with another picture-id field."""
    return payload[:VP8_PICTURE_ID.start] + picture + payload[VP8_PICTURE_ID.stop:]


class ParkedTrack(MediaStreamTrack):
    """The track an aiortc sender holds while :class:`RtpStream` writes its packets: its
    ``recv()`` waits until the track stops, so the sender's own loop never runs."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()
