"""Where note updates live: the storage port, an in-memory adapter and the compaction policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class StoredNotes:
    """Everything stored for one room: an optional snapshot and every update stored beside it.

    ``updates`` may repeat what the snapshot holds (a CRDT merge ignores duplicates), so a load
    never has to decide by row order what a snapshot covers. ``version`` counts the room's
    compactions (0: no snapshot yet); ``keys`` are the storage's own keys of ``updates``, which a
    compaction of this load deletes, and no others.
    """

    snapshot: bytes | None
    updates: list[bytes]
    version: int = 0
    keys: tuple[int, ...] = ()


class NotesStorage(Protocol):
    """The port the server fills with its database (one table of updates, one of snapshots)."""

    async def append_update(self, room_id: str, update: bytes) -> int:
        """Store one validated update; return a key of it (for diagnostics only)."""
        ...

    async def load(self, room_id: str) -> StoredNotes:
        """Return the snapshot and every update stored for the room, in arrival order."""
        ...

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        """Atomically store ``snapshot`` and delete exactly the updates ``loaded`` holds.

        ``snapshot`` must fold ``loaded`` (its snapshot and its updates). Does nothing and returns
        False when the stored snapshot is no longer the one ``loaded`` saw (another compaction of
        the room won meanwhile): replacing it could drop what that compaction folded. Updates
        appended after the load are never deleted, whatever their keys.
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


NEVER = CompactionPolicy(max_updates=2**62, max_bytes=2**62)
"""A policy that never compacts on its own (tests that compare stored bytes)."""


@dataclass
class _RoomLog:
    snapshot: bytes | None = None
    version: int = 0
    updates: list[tuple[int, bytes]] = field(default_factory=list)
    next_key: int = 1


class MemoryNotesStorage:
    """In-memory ``NotesStorage`` for tests, benchmarks and the single-process demo.

    Keys are reused once the highest ones are deleted, as SQLite reuses rowids of a table
    without AUTOINCREMENT: nothing may depend on keys growing.
    """

    def __init__(self) -> None:
        self._rooms: dict[str, _RoomLog] = {}
        self.appended_bytes = 0
        """Every byte ever appended, across rooms: the history compaction saves us from."""

    async def append_update(self, room_id: str, update: bytes) -> int:
        log = self._rooms.setdefault(room_id, _RoomLog())
        key, log.next_key = log.next_key, log.next_key + 1
        log.updates.append((key, update))
        self.appended_bytes += len(update)
        return key

    async def load(self, room_id: str) -> StoredNotes:
        log = self._rooms.get(room_id, _RoomLog())
        return StoredNotes(log.snapshot, [u for _, u in log.updates], log.version,
                           tuple(k for k, _ in log.updates))

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        log = self._rooms.setdefault(room_id, _RoomLog())
        if log.version != loaded.version:
            return False
        log.snapshot, log.version = snapshot, log.version + 1
        gone = set(loaded.keys)
        log.updates = [(k, u) for k, u in log.updates if k not in gone]
        log.next_key = max((k for k, _ in log.updates), default=0) + 1  # as SQLite does
        return True

    def stored_bytes(self, room_id: str) -> int:
        """Bytes held for a room (snapshot plus log): what a database would keep."""
        log = self._rooms.get(room_id, _RoomLog())
        return len(log.snapshot or b"") + sum(len(u) for _, u in log.updates)
