"""Where note updates live: the storage port, an in-memory adapter and the compaction policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class StoredNotes:
    """Everything stored for one room: an optional snapshot, then the updates after it.

    ``upto`` is the sequence number of the last update included (0 when nothing is stored).
    """

    snapshot: bytes | None
    updates: list[bytes]
    upto: int


class NotesStorage(Protocol):
    """The port the server fills with its database (one table of updates, one of snapshots)."""

    async def append_update(self, room_id: str, update: bytes) -> int:
        """Store one validated update; return its sequence number (increasing per room)."""
        ...

    async def load(self, room_id: str) -> StoredNotes:
        """Return the snapshot and every update stored after it, in sequence order."""
        ...

    async def replace_with_snapshot(self, room_id: str, snapshot: bytes, upto: int) -> None:
        """Atomically store ``snapshot`` and delete updates with sequence number <= ``upto``.

        Must do nothing if the stored snapshot already covers ``upto`` or more: two nodes may
        compact the same room at once, and an older snapshot must never replace a newer one.
        """
        ...


@dataclass(frozen=True)
class CompactionPolicy:
    """Fold the update log into a snapshot after this many updates or bytes since the last."""

    max_updates: int = 500
    max_bytes: int = 256 * 1024

    def due(self, updates: int, size: int) -> bool:
        """True when the log since the last compaction is long enough to fold."""
        return updates >= self.max_updates or size >= self.max_bytes


@dataclass
class _RoomLog:
    snapshot: bytes | None = None
    snapshot_upto: int = 0
    updates: list[tuple[int, bytes]] = field(default_factory=list)
    next_seq: int = 1


class MemoryNotesStorage:
    """In-memory ``NotesStorage`` for tests, benchmarks and the single-process demo."""

    def __init__(self) -> None:
        self._rooms: dict[str, _RoomLog] = {}
        self.appended_bytes = 0
        """Every byte ever appended, across rooms: the history compaction saves us from."""

    async def append_update(self, room_id: str, update: bytes) -> int:
        log = self._rooms.setdefault(room_id, _RoomLog())
        seq, log.next_seq = log.next_seq, log.next_seq + 1
        log.updates.append((seq, update))
        self.appended_bytes += len(update)
        return seq

    async def load(self, room_id: str) -> StoredNotes:
        log = self._rooms.get(room_id, _RoomLog())
        upto = log.updates[-1][0] if log.updates else log.snapshot_upto
        return StoredNotes(log.snapshot, [u for _, u in log.updates], upto)

    async def replace_with_snapshot(self, room_id: str, snapshot: bytes, upto: int) -> None:
        log = self._rooms.setdefault(room_id, _RoomLog())
        if upto <= log.snapshot_upto:
            return
        log.snapshot, log.snapshot_upto = snapshot, upto
        log.updates = [(seq, u) for seq, u in log.updates if seq > upto]

    def stored_bytes(self, room_id: str) -> int:
        """Bytes held for a room (snapshot plus log): what a database would keep."""
        log = self._rooms.get(room_id, _RoomLog())
        return len(log.snapshot or b"") + sum(len(u) for _, u in log.updates)
