"""The y-protocols wire format (sync and awareness), parsed strictly.

Same encoding as the JS ``y-protocols`` and lib0: a message starts with a varUint type
(``messageSync = 0`` then a sub-type ``syncStep1 = 0 | syncStep2 = 1 | update = 2``, or
``messageAwareness = 1``) followed by one varUint8Array payload.

We parse by hand instead of with ``pycrdt.Decoder`` because that decoder does no bounds checks
(a truncated length silently yields a short payload, a missing byte raises ``IndexError``) and
accepts trailing bytes; messages come from untrusted browsers. Encoding reuses pycrdt's helpers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

from pycrdt import create_awareness_message, create_update_message, write_var_uint

from rooms.errors import RoomsError

# lib0 varUints carry up to 53 bits (JS safe integers): 8 bytes of 7 bits is enough and bounds
# the loop on hostile input.
_MAX_VARUINT_BYTES = 8


class MessageType(IntEnum):
    """Top-level y-protocols message type."""

    SYNC = 0
    AWARENESS = 1


class SyncType(IntEnum):
    """Sub-type of a sync message."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True)
class SyncMessage:
    """A parsed sync message: ``payload`` is a state vector (step 1) or an update."""

    kind: SyncType
    payload: bytes


@dataclass(frozen=True)
class AwarenessMessage:
    """A parsed awareness message: ``payload`` is the encoded awareness update."""

    payload: bytes


@dataclass(frozen=True)
class AwarenessEntry:
    """One client's awareness state; ``state`` is JSON text, ``"null"`` when it left."""

    client_id: int
    clock: int
    state: str


Message = SyncMessage | AwarenessMessage


class _Reader:
    """Bounds-checked lib0 decoding over one buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        value = 0
        for shift in range(0, 7 * _MAX_VARUINT_BYTES, 7):
            byte = self._byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise _malformed("varUint too long")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise _malformed("length runs past the end of the message")
        chunk, self.pos = self.data[self.pos : end], end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed("string is not UTF-8") from exc

    def done(self) -> None:
        if self.pos != len(self.data):
            raise _malformed("trailing bytes after the message")

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise _malformed("message ends too early")
        self.pos += 1
        return self.data[self.pos - 1]


def _malformed(why: str) -> RoomsError:
    return RoomsError("notes.malformed", why)


def parse_message(data: bytes) -> Message:
    """Parse one y-protocols message, or raise ``RoomsError('notes.malformed')``."""
    reader = _Reader(data)
    kind = reader.var_uint()
    if kind == MessageType.SYNC:
        sub = reader.var_uint()
        if sub not in SyncType._value2member_map_:
            raise _malformed(f"unknown sync message type {sub}")
        message: Message = SyncMessage(SyncType(sub), reader.var_bytes())
    elif kind == MessageType.AWARENESS:
        message = AwarenessMessage(reader.var_bytes())
    else:
        raise _malformed(f"unknown message type {kind}")
    reader.done()
    return message


def sync_step1(state_vector: bytes) -> bytes:
    """Encode a sync step 1 message carrying a state vector."""
    header = bytes((MessageType.SYNC, SyncType.STEP1))
    return header + write_var_uint(len(state_vector)) + state_vector


def sync_step2(update: bytes) -> bytes:
    """Encode a sync step 2 message carrying the update the peer is missing."""
    return bytes((MessageType.SYNC, SyncType.STEP2)) + write_var_uint(len(update)) + update


def sync_update(update: bytes) -> bytes:
    """Encode a sync update message."""
    return create_update_message(update)


def parse_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update; each state must be JSON text."""
    reader = _Reader(payload)
    entries = [_awareness_entry(reader) for _ in range(reader.var_uint())]
    reader.done()
    return entries


def _awareness_entry(reader: _Reader) -> AwarenessEntry:
    entry = AwarenessEntry(reader.var_uint(), reader.var_uint(), reader.var_string())
    try:
        json.loads(entry.state)
    except ValueError as exc:
        raise _malformed("awareness state is not JSON") from exc
    return entry


def awareness_message(entries: list[AwarenessEntry]) -> bytes:
    """Encode an awareness message holding ``entries``."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        state = entry.state.encode("utf-8")
        parts += [write_var_uint(entry.client_id), write_var_uint(entry.clock)]
        parts += [write_var_uint(len(state)), state]
    return create_awareness_message(b"".join(parts))
