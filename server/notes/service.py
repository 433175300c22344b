"""Shared notes of the breakout rooms on this node: what the server adds to rooms/.

``rooms.notes.NotesRoom`` does the CRDT work of a room and ``rooms.notes_registry`` owns the
rooms a node holds open, its peers' seats and the relay between nodes, free of any framework.
This module gives them what they lack:

* ``SqlNotesStorage``: the ``NotesStorage`` port on ``note_updates`` / ``note_snapshots``.
* ``NotesRegistry``: the room membership rule (who may read, who may write, checked again
  every RECHECK_SECONDS) around ``rooms.notes_registry.NotesRegistry``, and the one translation
  of its failures into the error the client hears.
* ``RedisNotesBus``: the ``NotesBus`` port on Redis pub/sub (server/platform/pubsub.py).
* ``export_parts``: every room's text per theme, read from storage, for exports and archives.

Messages to browsers go to this node's connections only (``ignore_queue``); other nodes send to
theirs when the bus brings them the update, after applying it, so no connection can be told
about an update its node's document does not hold yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map, Text
from sqlalchemy import delete, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.errors import RoomsError
from rooms.notes import (
    THEMES,
    NotesLimits,
    NotesRoom,
    merge_all,
)
from rooms.notes_registry import (
    BusMessage,
    Deliver,
    LocalBus,
    NotesBus,
    Seat,
    SeatRevoked,
    Subscribed,
    Transport,
    WriteBehindStorage,
)
from rooms.notes_registry import NotesRegistry as RoomsRegistry
from rooms.notes_storage import CompactionPolicy, StoredNotes
from server.breakout.membership import room_access
from server.breakout.models import BreakoutRoom, BreakoutRound
from server.notes.models import NoteSnapshot, NoteUpdate
from server.platform import keys
from server.platform.auth import Principal
from server.platform.db import Database
from server.platform.errors import DomainError, log_unexpected
from server.platform.models import Region, Registration, Theme
from server.platform.node import Key
from server.platform.pubsub import Subscription, redis_client

LOCK_NAMESPACE = 7_180_018
"""First key of the PostgreSQL advisory lock that orders appends, loads and compactions."""

MESSAGES = {
    "notes.not_joined": "Gå med i rummets anteckningar först.",
    "notes.read_only": "Du kan läsa men inte skriva i anteckningarna.",
    "notes.too_large": "Ändringen är för stor.",
    "notes.room_full": "Rummets anteckningar är fulla. Be moderatorn om hjälp.",
    "notes.rate_limited": "Du ändrar för snabbt. Vänta ett ögonblick.",
    "notes.malformed": "Ändringen kunde inte läsas.",
    "notes.rejected": "Ändringen kunde inte tillämpas.",
    "notes.forbidden_change": "Bara servern skapar temaavsnitten.",
    "notes.awareness_invalid": "Ogiltig närvaroinformation.",
}


def domain_error(exc: RoomsError) -> DomainError:
    """The one translation of a rooms failure into the error the client hears."""
    return DomainError(exc.code, MESSAGES.get(exc.code, "Ändringen avvisades."))


# ---------------------------------------------------------------------------------------------
# Storage


class SqlNotesStorage:
    """``NotesStorage`` on the database. Room ids are the breakout room's id as text.

    Nothing here depends on the order of update ids: SQLite reuses the ids of deleted rows (the
    table has no AUTOINCREMENT), and on PostgreSQL ids of concurrent transactions commit out of
    order. A load reads every update row of the room (the snapshot may already hold some of
    them: a CRDT merge ignores duplicates), and a compaction deletes exactly the rows it loaded.
    ``note_snapshots.upto`` is the snapshot's version, bumped by each compaction: a compaction
    stores its snapshot only if the version is still the one it loaded (compare and swap), so a
    slower compaction never replaces a snapshot that folded rows it did not see.

    On PostgreSQL, appends, loads and compactions of one room also take a transaction-scoped
    advisory lock, so two nodes' compactions of a room rarely waste work racing each other.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_update(self, room_id: str, update: bytes) -> int:
        async with self._db.transaction() as s:
            await _lock(s, room_id, relaxed=True)
            row_id = await s.scalar(
                insert(NoteUpdate).values(room_id=int(room_id), data=update)
                .returning(NoteUpdate.id)
            )
        return int(row_id or 0)

    async def append_many(self, batch: list[tuple[str, bytes]]) -> None:
        """Several rooms' updates in one transaction, each room's in its arrival order."""
        async with self._db.transaction() as s:
            for room_id in sorted({room for room, _ in batch}, key=int):
                await _lock(s, room_id, relaxed=True)
            await s.execute(insert(NoteUpdate), [
                {"room_id": int(room), "data": update} for room, update in batch
            ])

    async def load(self, room_id: str) -> StoredNotes:
        async with self._db.transaction() as s:
            await _lock(s, room_id)
            return await _load(s, int(room_id))

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        try:
            async with self._db.transaction() as s:
                await _lock(s, room_id)
                return await _replace(s, int(room_id), snapshot, loaded)
        except (IntegrityError, OperationalError) as exc:
            # Another compaction of the same room won (SQLite has no advisory lock): the log is
            # intact, the next compaction folds it.
            log_unexpected("notes compaction", exc)
            return False

    async def stored_bytes(self, room_id: str) -> int:
        """Bytes held for a room: snapshot plus log (what the benchmark reports)."""
        stored = await self.load(room_id)
        return len(stored.snapshot or b"") + sum(map(len, stored.updates))


async def _lock(s: AsyncSession, room_id: str, relaxed: bool = False) -> None:
    """The room's advisory lock; ``relaxed`` appends do not wait for the WAL flush.

    Losing the last few hundred milliseconds of keystrokes in a database crash is harmless
    here: every editor's browser holds the whole document and sends the server whatever it
    lacks (sync step 2) when it reconnects. Waiting for a flush per keystroke is what limits
    a room's write rate.
    """
    if s.get_bind().dialect.name != "postgresql":
        return
    if relaxed:
        await s.execute(text("SET LOCAL synchronous_commit = off"))
    await s.execute(text("SELECT pg_advisory_xact_lock(:ns, :room)"),
                    {"ns": LOCK_NAMESPACE, "room": int(room_id)})


DELETE_CHUNK = 500
"""Ids per DELETE statement (SQLite caps the bound parameters of one statement)."""


async def _load(s: AsyncSession, room_id: int) -> StoredNotes:
    """The snapshot and every update row of the room, whatever its id (see SqlNotesStorage)."""
    snap = (await s.execute(
        select(NoteSnapshot.data, NoteSnapshot.upto).where(NoteSnapshot.room_id == room_id)
    )).first()
    rows = (await s.execute(
        select(NoteUpdate.id, NoteUpdate.data)
        .where(NoteUpdate.room_id == room_id).order_by(NoteUpdate.id)
    )).all()
    return StoredNotes(bytes(snap[0]) if snap else None, [bytes(r[1]) for r in rows],
                       int(snap[1]) if snap else 0, tuple(int(r[0]) for r in rows))


async def _replace(s: AsyncSession, room_id: int, snapshot: bytes, loaded: StoredNotes) -> bool:
    """Store the snapshot if its version is still the loaded one; delete the loaded rows."""
    if loaded.snapshot is None and loaded.version == 0:
        s.add(NoteSnapshot(room_id=room_id, data=snapshot, upto=1))
        await s.flush()  # a concurrent first snapshot fails here (IntegrityError): it won
    else:
        swapped = await s.execute(
            sql_update(NoteSnapshot)
            .where(NoteSnapshot.room_id == room_id, NoteSnapshot.upto == loaded.version)
            .values(data=snapshot, upto=loaded.version + 1)
        )
        if swapped.rowcount != 1:  # type: ignore[attr-defined]
            return False
    ids = list(loaded.keys)
    for i in range(0, len(ids), DELETE_CHUNK):
        await s.execute(delete(NoteUpdate).where(
            NoteUpdate.room_id == room_id, NoteUpdate.id.in_(ids[i : i + DELETE_CHUNK])))
    return True


async def stored_texts(
    db: AsyncSession, room_id: int, theme_keys: Sequence[str]
) -> dict[str, str]:
    """Whole text per theme of one room, from what is stored (any node may have written it)."""
    stored = await _load(db, room_id)
    history = ([stored.snapshot] if stored.snapshot else []) + stored.updates
    doc: Doc[Map[Text]] = Doc()
    if history:
        doc.apply_update(merge_all(history))
    themes = doc.get(THEMES, type=Map)
    return {key: str(themes[key]) if key in themes else "" for key in theme_keys}


# ---------------------------------------------------------------------------------------------
# Between nodes


class RedisNotesBus:
    """Redis pub/sub on ``keys.NOTES_CHANNEL`` (server/platform/pubsub.py: guarded messages,
    capped-backoff reconnect; after each resubscription `subscribed` lets the relay catch up)."""

    def __init__(self, url: str, node_id: str, channel: str = keys.NOTES_CHANNEL) -> None:
        # Named, so an operator (or a test) can find this node's connections in CLIENT LIST.
        self._url = url
        self._redis = redis_client(url, name=f"tp-notes-{node_id}")
        self._node = node_id
        self._channel = channel
        self._subscription: Subscription | None = None

    @property
    def subscriptions(self) -> int:
        """How often this bus has (re)subscribed (diagnostics, tests)."""
        return self._subscription.subscriptions if self._subscription else 0

    async def start(self, deliver: Deliver, subscribed: Subscribed | None = None) -> None:
        async def handle(_channel: str, raw: bytes) -> None:
            message = BusMessage.decode(raw)
            if message.node != self._node and message.to in ("", self._node):
                await deliver(message)

        self._subscription = Subscription(
            self._url, [self._channel], handle, name="notes bus",
            client_name=f"tp-notes-{self._node}", on_subscribed=subscribed)
        await self._subscription.start()

    async def publish(self, message: BusMessage) -> None:
        await self._redis.publish(self._channel, message.encode())

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()
        await self._redis.aclose()


def make_bus(redis_url: str | None, node_id: str) -> NotesBus:
    """The bus for these settings. Pub/sub channels span Redis's numbered databases, so the
    channel carries the database number: deployments (or test runs) on different databases of
    one Redis never hear each other's rooms."""
    if not redis_url:
        return LocalBus()
    from redis.asyncio.connection import parse_url

    database = parse_url(redis_url).get("db", 0)
    return RedisNotesBus(redis_url, node_id, f"{keys.NOTES_CHANNEL}:{database}")


# ---------------------------------------------------------------------------------------------
# The rooms open on this node, behind the membership rule


@dataclass
class JoinResult:
    room_id: int
    name: str
    themes: list[dict[str, str]]
    writable: bool


class NotesRegistry:
    """The node's notes rooms (``rooms.notes_registry``), entered through the membership rule."""

    def __init__(
        self, db: Database, transport: Transport, bus: NotesBus, node_id: str,
        limits: NotesLimits | None = None, policy: CompactionPolicy | None = None,
        write_interval: float = 0.05,
    ) -> None:
        self._db = db
        self.storage = WriteBehindStorage(SqlNotesStorage(db), write_interval, log_unexpected)
        self.rooms = RoomsRegistry(
            self.storage, transport, bus, node_id, recheck=self._recheck, limits=limits,
            policy=policy, on_error=log_unexpected)

    async def start(self) -> None:
        await self.rooms.start()

    async def stop(self) -> None:
        await self.rooms.stop()

    async def join(self, sid: str, principal: Principal, event_id: int, room_id: int) -> JoinResult:
        """Seat a connection in a room after checking the membership rule; greet it."""
        async with self._db.session() as db:
            writable = await _writable(db, principal, event_id, room_id)
            room_row = await db.get(BreakoutRoom, room_id)
            themes = await _themes(db, event_id)
        assert room_row is not None
        person = f"{principal.kind}:{principal.id}"
        seat = Seat(person, writable, context=(principal, event_id), staff=principal.is_moderator)
        await self.rooms.seat(sid, room_id, [t["key"] for t in themes], seat)
        return JoinResult(room_id, room_row.name, themes, writable)

    async def receive(self, sid: str, room_id: int, message: bytes) -> None:
        """One y-protocols message from a seated connection: validate, store, relay."""
        try:
            await self.rooms.receive(sid, room_id, message)
        except RoomsError as exc:
            raise domain_error(exc) from exc

    async def leave(self, sid: str, room_id: int) -> None:
        await self.rooms.leave(sid, room_id)

    async def disconnect(self, sid: str) -> None:
        await self.rooms.disconnect(sid)

    async def evict(self, room_id: int, person: str, *, everywhere: bool = True) -> None:
        """Unseat every connection of ``person`` ("participant:<id>") from a room, on every node
        (someone was moved out of the room: server/notes/feature.py)."""
        await self.rooms.evict(room_id, person, everywhere=everywhere)

    async def freeze(self, room_id: int) -> None:
        """The room's round was closed: read-only from now on, on every node (moderators
        excepted)."""
        await self.rooms.freeze(room_id)

    def open_room(self, room_id: int) -> NotesRoom | None:
        """The room's document if this node holds it open (tests, benchmark, diagnostics)."""
        return self.rooms.open_room(room_id)

    async def _recheck(self, seat: Seat, room_id: int) -> bool:
        principal, event_id = seat.context
        async with self._db.session() as db:
            try:
                return await _writable(db, principal, event_id, room_id)
            except DomainError as exc:
                raise SeatRevoked() from exc


async def _writable(db: AsyncSession, principal: Principal, event_id: int, room_id: int) -> bool:
    """Raise ``room.not_member`` / ``room.not_found`` unless the caller may read; True if write.
    A closed round's notes are read-only for all but moderators."""
    try:  # members and moderators, the common case: one check
        room = await room_access(db, principal, event_id, room_id, write=True)
    except DomainError as refused:
        if refused.code != "room.not_member":
            raise
        await room_access(db, principal, event_id, room_id, write=False)  # readers, or raise
        return False
    if principal.is_moderator:
        return True
    status = await db.scalar(select(BreakoutRound.status).where(BreakoutRound.id == room.round_id))
    return status != "closed"


async def _themes(db: AsyncSession, event_id: int) -> list[dict[str, str]]:
    rows = await db.scalars(
        select(Theme).where(Theme.event_id == event_id).order_by(Theme.position))
    return [{"key": t.key, "title": t.title, "title_en": t.title_en or t.title,
             "description": t.description} for t in rows]


# ---------------------------------------------------------------------------------------------
# Reading for exports and archives


async def export_parts(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """Every room's text for every theme of an event, theme by theme, rooms in their order.

    Each part: ``theme`` (key), ``theme_title``, ``room_id``, ``room``, ``round_id``,
    ``regions`` (codes), ``region_names``, ``facilitator`` (name or None), ``text``.
    Read from storage, so it holds what every node stored, open rooms or not.
    """
    themes = await _themes(db, event_id)
    rooms = list(await db.scalars(
        select(BreakoutRoom).where(BreakoutRoom.event_id == event_id)
        .order_by(BreakoutRoom.round_id, BreakoutRoom.position, BreakoutRoom.id)))
    names = {r.code: r.name for r in await db.scalars(select(Region))}
    keys_ = [t["key"] for t in themes]
    per_room = {room.id: await stored_texts(db, room.id, keys_) for room in rooms}
    facilitators = await _facilitators(db, rooms)
    return [
        {"theme": theme["key"], "theme_title": theme["title"], "room_id": room.id,
         "room": room.name, "round_id": room.round_id, "regions": list(room.regions or []),
         "region_names": [names.get(c, c) for c in room.regions or []],
         "facilitator": facilitators.get(room.id), "text": per_room[room.id][theme["key"]]}
        for theme in themes for room in rooms
    ]


async def _facilitators(db: AsyncSession, rooms: list[BreakoutRoom]) -> dict[int, str]:
    ids = {r.facilitator_id for r in rooms if r.facilitator_id}
    if not ids:
        return {}
    found = await db.scalars(select(Registration).where(Registration.id.in_(ids)))
    regs = {r.id: r.name for r in found}
    return {r.id: regs[r.facilitator_id] for r in rooms if r.facilitator_id in regs}


class StoredNotesSource:
    """``server.feedback.NotesSource`` on the stored notes: the region's rooms, one theme."""

    def __init__(self, db: Database, flush: Callable[[], Awaitable[None]] | None = None) -> None:
        self._db = db
        self._flush = flush

    async def theme_text(self, event_id: int, region_code: str, theme_key: str) -> str:
        if self._flush:
            await self._flush()  # this node's buffered updates first (WriteBehindStorage)
        async with self._db.session() as db:
            parts = await export_parts(db, event_id)
        texts = [p["text"] for p in parts
                 if p["theme"] == theme_key and region_code in p["regions"] and p["text"].strip()]
        return "\n\n".join(texts)


REGISTRY = Key("notes.registry", NotesRegistry)
