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

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _malformed("message ends too early")
        chunk, self.pos = self.data[self.pos : self.pos + n], self.pos + n
        return chunk

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


# --------------------------------------------------------------------------- update outlines


@dataclass(frozen=True)
class UpdateOutline:
    """What a Yjs update (v1) refers to, read without applying it.

    ``ends``: per client, the clock just past its last struct in the update; ``deletes``: the
    delete set as ``(client, clock, length)``. A room checks both against its state after
    applying the update: anything beyond it would stay *pending* in the document (Yjs keeps
    what it cannot integrate yet), and pending parts of a damaged update are what later broke a
    room's snapshot for every newcomer (tests/unit/test_notes_garbage.py).
    """

    ends: dict[int, int]
    deletes: list[tuple[int, int, int]]


_ITEM_CONTENT_SKIP = {1, 2, 3, 4, 5, 6, 7, 8, 9}
_XML_NAMED_TYPES = {3, 5}  # YXmlElement and YXmlHook carry a name


def update_outline(update: bytes) -> UpdateOutline:
    """Read an update's structs and delete set, or raise ``RoomsError('notes.malformed')``."""
    reader = _Reader(update)
    ends: dict[int, int] = {}
    for _ in range(reader.var_uint()):
        structs, client, clock = reader.var_uint(), reader.var_uint(), reader.var_uint()
        for _ in range(structs):
            clock += _struct_length(reader)
        ends[client] = max(ends.get(client, 0), clock)
    deletes: list[tuple[int, int, int]] = []
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        for _ in range(reader.var_uint()):
            deletes.append((client, reader.var_uint(), reader.var_uint()))
    reader.done()
    return UpdateOutline(ends, deletes)


def parse_state_vector(state: bytes) -> dict[int, int]:
    reader = _Reader(state)
    out = {}
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        out[client] = reader.var_uint()
    reader.done()
    return out


def _struct_length(reader: _Reader) -> int:
    info = reader._byte()
    ref = info & 0x1F
    if ref in (0, 10):  # GC, Skip
        return reader.var_uint()
    if ref not in _ITEM_CONTENT_SKIP:
        raise _malformed(f"unknown struct type {ref}")
    if info & 0x80:  # origin
        reader.var_uint(), reader.var_uint()
    if info & 0x40:  # right origin
        reader.var_uint(), reader.var_uint()
    if not info & 0xC0:  # no origins: the parent is written
        if reader.var_uint() == 1:
            reader.var_string()
        else:
            reader.var_uint(), reader.var_uint()
        if info & 0x20:
            reader.var_string()
    return _content_length(reader, ref)


def _content_length(reader: _Reader, ref: int) -> int:
    if ref == 1:  # deleted
        return reader.var_uint()
    if ref == 2:  # JSON
        n = reader.var_uint()
        for _ in range(n):
            reader.var_string()
        return n
    if ref == 3:  # binary
        reader.var_bytes()
        return 1
    if ref == 4:  # string: its length in UTF-16 code units, as Yjs counts
        return len(reader.var_string().encode("utf-16-le")) // 2
    if ref in (5, 6):  # embed; format (key, value)
        reader.var_string()
        if ref == 6:
            reader.var_string()
        return 1
    if ref == 7:  # type
        if reader.var_uint() in _XML_NAMED_TYPES:
            reader.var_string()
        return 1
    if ref == 8:  # any
        n = reader.var_uint()
        for _ in range(n):
            _skip_any(reader, 0)
        return n
    reader.var_string()  # 9: subdocument: guid, then its options
    _skip_any(reader, 0)
    return 1


def _skip_any(reader: _Reader, depth: int) -> None:
    if depth > 64:
        raise _malformed("value nested too deep")
    tag = reader._byte()
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return
    if tag == 125:  # varint: like a varUint, with a sign bit in the first byte
        reader.var_uint()
    elif tag == 124:
        reader._take(4)
    elif tag in (123, 122):
        reader._take(8)
    elif tag == 119:
        reader.var_string()
    elif tag == 118:
        for _ in range(reader.var_uint()):
            reader.var_string()
            _skip_any(reader, depth + 1)
    elif tag == 117:
        for _ in range(reader.var_uint()):
            _skip_any(reader, depth + 1)
    elif tag == 116:
        reader.var_bytes()
    else:
        raise _malformed(f"unknown value tag {tag}")
