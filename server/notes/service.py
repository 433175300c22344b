"""Shared notes of the breakout rooms on this node: storage, the rooms it holds open, and relay.

``rooms.notes.NotesRoom`` does the CRDT work; this module gives it what it lacks:

* ``SqlNotesStorage``: the ``NotesStorage`` port on ``note_updates`` / ``note_snapshots``.
* ``NotesRegistry``: owns every ``NotesRoom`` open on this node (opened on the first join,
  compacted and closed when the last local peer leaves, all closed on shutdown), checks the
  room membership rule, and routes the room's outbound messages to the connections on this node.
* ``RedisNotesBus``: tells the other nodes about every update this node stored (and every
  awareness change), so each node's in-memory document converges without storing twice: only
  the node that received an update from a browser appends it.
* ``export_parts``: every room's text per theme, read from storage, for exports and archives.

Messages to browsers go to this node's connections only (``ignore_queue``); other nodes send to
theirs when the bus brings them the update, after applying it, so no connection can be told
about an update its node's document does not hold yet.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import Doc, Map, Text, get_update
from sqlalchemy import delete, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.errors import RoomsError
from rooms.notes import (
    EMPTY_UPDATE,
    THEMES,
    NotesLimits,
    NotesRoom,
    Outbound,
    merge_all,
    reraise_unless_pycrdt_failure,
)
from rooms.notes_storage import CompactionPolicy, StoredNotes
from rooms.ysync import AwarenessMessage, SyncMessage, parse_message, sync_update
from server.breakout.membership import room_access
from server.breakout.models import BreakoutRoom
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

LINGER_SECONDS = 2.0
"""How long a closed room's document still answers other nodes' sync requests (see _close)."""

RECHECK_SECONDS = 30.0
"""How long a membership check holds before the next message checks again (moves, removals)."""

MESSAGES = {
    "notes.too_large": "Ändringen är för stor.",
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


class WriteBehindStorage:
    """Appends are buffered and written together every ``interval`` seconds.

    One transaction per keystroke was what limited the notes on a busy node (420 editors typing
    make about 840 appends a second). The same argument as ``synchronous_commit = off`` below
    makes the buffer safe: a node that dies loses at most ``interval`` seconds of updates, and
    on reconnect every editor's browser answers the server's sync step 1 with what it lacks.
    Reads and compactions flush first, so they always see every accepted update.
    """

    def __init__(self, inner: SqlNotesStorage, interval: float = 0.05) -> None:
        self._inner = inner
        self._interval = interval
        self._pending: list[tuple[str, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    async def append_update(self, room_id: str, update: bytes) -> int:
        self._pending.append((room_id, update))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_later())
        return len(self._pending)

    async def _flush_later(self) -> None:
        """Flush until the buffer stays empty: appends that arrive during a flush go next."""
        backoff = self._interval
        while self._pending:
            await asyncio.sleep(backoff)
            try:
                await self.flush()
                backoff = self._interval
            except Exception as exc:  # kept in the buffer and retried, with capped backoff
                log_unexpected("notes write-behind", exc)
                backoff = min(backoff * 2, 5.0)

    async def flush(self) -> None:
        async with self._flushing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self._inner.append_many(batch)
            except BaseException:
                self._pending[:0] = batch
                raise

    async def load(self, room_id: str) -> StoredNotes:
        await self.flush()
        return await self._inner.load(room_id)

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        await self.flush()
        return await self._inner.replace_with_snapshot(room_id, snapshot, loaded)

    def buffered(self, room_id: str) -> list[bytes]:
        """This room's updates accepted here and not written yet (a node that asks for a room
        this node has closed still gets them; see ``NotesRegistry``)."""
        return [data for room, data in self._pending if room == room_id]

    async def stored_bytes(self, room_id: str) -> int:
        await self.flush()
        return await self._inner.stored_bytes(room_id)

    async def stop(self) -> None:
        """Write what is buffered, once; a failure is logged (browsers resend on reconnect)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.flush()
        except Exception as exc:
            log_unexpected("notes write-behind at shutdown", exc)


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


@dataclass(frozen=True)
class BusMessage:
    """What one node tells the others.

    Kinds: ``update`` (an update it stored), ``awareness`` (a peer's awareness change),
    ``evict`` (peer: the person's key, data empty), ``sync`` (a sync request: data is the
    sender's state vector of the room; peer ``open`` or ``back``, see ``NotesRegistry``) and
    ``state`` (the answer: what the asking node lacks, to apply without storing). ``to`` names
    the one node a message is for (``sync`` back, ``state``); empty means every node.
    """

    node: str
    room_id: int
    kind: str
    peer: str
    data: bytes
    to: str = ""

    def encode(self) -> bytes:
        body: dict[str, Any] = {"n": self.node, "r": self.room_id, "k": self.kind,
                                "p": self.peer, "d": base64.b64encode(self.data).decode("ascii")}
        if self.to:
            body["t"] = self.to
        return json.dumps(body).encode()

    @classmethod
    def decode(cls, raw: bytes) -> BusMessage:
        d = json.loads(raw)
        return cls(str(d["n"]), int(d["r"]), str(d["k"]), str(d["p"]), base64.b64decode(d["d"]),
                   str(d.get("t", "")))


Deliver = Callable[[BusMessage], Awaitable[None]]
Subscribed = Callable[[], Awaitable[None]]


class NotesBus(Protocol):
    async def start(self, deliver: Deliver, subscribed: Subscribed | None = None) -> None:
        """Deliver other nodes' messages; await ``subscribed`` after each (re)subscription:
        what was published while this node was not listening is lost and must be asked for."""
        ...

    async def publish(self, message: BusMessage) -> None: ...
    async def stop(self) -> None: ...


class LocalBus:
    """One process: nobody else to tell."""

    async def start(self, deliver: Deliver, subscribed: Subscribed | None = None) -> None:
        return None

    async def publish(self, message: BusMessage) -> None:
        return None

    async def stop(self) -> None:
        return None


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
# The rooms open on this node


class Transport(Protocol):
    """This node's connections: the server supplies it over socket.io (server/sockets/notes.py)."""

    async def send(self, room_id: int, data: bytes, to: str, skip_sid: str | None) -> None:
        """One ``notes.sync`` message to a connection (sid) or to ``keys.notes_room``."""
        ...

    async def enter(self, sid: str, room_id: int) -> None: ...

    async def leave(self, sid: str, room_id: int) -> None: ...


@dataclass
class Seat:
    """One connection in one room: may it write, and when was that last checked."""

    principal: Principal
    event_id: int
    writable: bool
    checked_at: float
    rechecking: bool = False
    recheck_after: float = field(
        default_factory=lambda: RECHECK_SECONDS * random.uniform(0.8, 1.2))
    """Seconds between re-checks, spread so that a round's seats do not all come due at once."""


@dataclass
class JoinResult:
    room_id: int
    name: str
    themes: list[dict[str, str]]
    writable: bool


@dataclass
class _Opening:
    """A room being loaded: updates the bus brings meanwhile are applied once it is open."""

    task: asyncio.Task[NotesRoom]
    pending: list[BusMessage] = field(default_factory=list)


class NotesRegistry:
    """Owns the ``NotesRoom`` objects of this node and the seats of its connections."""

    def __init__(
        self, db: Database, transport: Transport, bus: NotesBus, node_id: str,
        limits: NotesLimits | None = None, policy: CompactionPolicy | None = None,
        write_interval: float = 0.05,
    ) -> None:
        self._db = db
        self._transport = transport
        self._bus = bus
        self._node = node_id
        self._limits = limits or NotesLimits()
        self._policy = policy or CompactionPolicy()
        self.storage = WriteBehindStorage(SqlNotesStorage(db), write_interval)
        self._rooms: dict[int, NotesRoom] = {}
        self._closing: dict[int, NotesRoom] = {}
        self._lingering: list[asyncio.TimerHandle] = []
        self._unpublished: set[int] = set()
        self._opening: dict[int, _Opening] = {}
        self._seats: dict[str, dict[int, Seat]] = {}
        self._rechecks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._bus.start(self._from_other_node, self._resync)

    async def stop(self) -> None:
        """Close every room (compacting what this node stored), then leave the bus."""
        await self._bus.stop()
        await asyncio.gather(*self._rechecks, return_exceptions=True)
        for room_id in list(self._rooms):
            await self._close(room_id)
        for handle in self._lingering:
            handle.cancel()
        self._closing.clear()
        await self.storage.stop()

    # -- peers --------------------------------------------------------------------------------

    async def join(self, sid: str, principal: Principal, event_id: int, room_id: int) -> JoinResult:
        """Seat a connection in a room after checking the membership rule; greet it."""
        async with self._db.session() as db:
            writable = await _writable(db, principal, event_id, room_id)
            room_row = await db.get(BreakoutRoom, room_id)
            themes = await _themes(db, event_id)
        assert room_row is not None
        theme_keys = [t["key"] for t in themes]
        room = await self._room(room_id, theme_keys)
        await self._add_sections(room_id, room, theme_keys)
        seat = Seat(principal, event_id, writable, time.monotonic())
        self._seats.setdefault(sid, {})[room_id] = seat
        await self._transport.enter(sid, room_id)
        for _target, data in room.join(sid):
            await self._transport.send(room_id, data, sid, None)
        return JoinResult(room_id, room_row.name, themes, writable)

    async def receive(self, sid: str, room_id: int, message: bytes) -> None:
        """One y-protocols message from a seated connection: validate, store, relay."""
        seat = await self._seat(sid, room_id)
        room = self._rooms.get(room_id)
        if room is None:
            raise DomainError("notes.not_joined", "Gå med i rummets anteckningar först.")
        if not seat.writable:
            _only_reading(message)
        try:
            outbound = await room.handle(message, sid)
        except RoomsError as exc:
            raise domain_error(exc) from exc
        await self._send(room_id, sid, outbound)
        await self._tell_others(room_id, sid, message, outbound)

    async def leave(self, sid: str, room_id: int) -> None:
        if self._seats.get(sid, {}).pop(room_id, None) is None:
            return
        await self._transport.leave(sid, room_id)
        room = self._rooms.get(room_id)
        if room is not None:
            gone = room.leave(sid)
            await self._send(room_id, sid, gone)
            for _target, data in gone:
                await self._publish(BusMessage(self._node, room_id, "awareness", sid, data))
        if not any(room_id in seats for seats in self._seats.values()):
            await self._close(room_id)

    async def disconnect(self, sid: str) -> None:
        for room_id in list(self._seats.get(sid, {})):
            await self.leave(sid, room_id)
        self._seats.pop(sid, None)

    async def evict(self, room_id: int, person: str, *, everywhere: bool = True) -> None:
        """Unseat every connection of ``person`` ("participant:<id>") from a room, on every node
        (the breakout feature calls it when someone is moved out of the room)."""
        for sid in [sid for sid, seats in self._seats.items() if room_id in seats
                    and f"{seats[room_id].principal.kind}:{seats[room_id].principal.id}" == person]:
            await self.leave(sid, room_id)
        if everywhere:
            await self._bus.publish(BusMessage(self._node, room_id, "evict", person, b""))

    def open_room(self, room_id: int) -> NotesRoom | None:
        """The room's document if this node holds it open (tests, benchmark, diagnostics)."""
        return self._rooms.get(room_id)

    # -- internals ----------------------------------------------------------------------------

    async def _seat(self, sid: str, room_id: int) -> Seat:
        """The connection's seat; a due membership re-check runs beside, never in the way.

        Moves and closes evict at once (`evict`); the re-check is the safety net for what
        changes without telling us. Awaiting it here held up every keystroke of the room behind
        a database round trip, all seats of a round coming due together (bench/notes.py).
        """
        seat = self._seats.get(sid, {}).get(room_id)
        if seat is None:
            raise DomainError("notes.not_joined", "Gå med i rummets anteckningar först.")
        if not seat.rechecking and time.monotonic() - seat.checked_at > seat.recheck_after:
            seat.rechecking = True
            task = asyncio.create_task(self._recheck(sid, room_id, seat))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)
        return seat

    async def _recheck(self, sid: str, room_id: int, seat: Seat) -> None:
        try:
            async with self._db.session() as db:
                seat.writable = await _writable(db, seat.principal, seat.event_id, room_id)
        except DomainError:
            await self.leave(sid, room_id)
            return
        except Exception as exc:  # the database is away: keep the seat, try again next time
            log_unexpected("notes membership re-check", exc)
        finally:
            seat.rechecking = False
        seat.checked_at = time.monotonic()

    async def _room(self, room_id: int, theme_keys: list[str]) -> NotesRoom:
        if room_id in self._rooms:
            return self._rooms[room_id]
        if room_id not in self._opening:
            task = asyncio.create_task(NotesRoom.open(
                str(room_id), theme_keys, self.storage, self._limits, self._policy,
                log_unexpected))
            self._opening[room_id] = _Opening(task)
        opening = self._opening[room_id]
        try:
            room = await asyncio.shield(opening.task)
        finally:
            if self._opening.get(room_id) is opening and opening.task.done():
                del self._opening[room_id]
        if room_id not in self._rooms:
            self._rooms[room_id] = room
            for message in opening.pending:
                await self._apply_remote(room, message)
            # What other nodes published before we listened for this room (or still hold in
            # their write-behind buffer) is neither in the database nor on its way: ask.
            await self._ask(room_id, room, "open")
        return self._rooms[room_id]

    async def _add_sections(self, room_id: int, room: NotesRoom, theme_keys: list[str]) -> None:
        """Sections for themes added to the event while the room is open here."""
        for _target, data in await room.add_sections(theme_keys):
            await self._transport.send(room_id, data, keys.notes_room(room_id), None)
            parsed = parse_message(data)
            if isinstance(parsed, SyncMessage):
                await self._publish(
                    BusMessage(self._node, room_id, "update", "server", parsed.payload))

    async def _close(self, room_id: int) -> None:
        room = self._rooms.pop(room_id, None)
        if room is None:
            return
        # While it closes, and a little after, the document still answers sync requests: a
        # node opening the room now may have loaded before our last updates were written.
        self._closing[room_id] = room
        try:
            await room.close()
        except BaseException as exc:  # the log stays whole; the next compaction folds it
            reraise_unless_pycrdt_failure(exc)
            log_unexpected("notes close", exc)
        finally:
            self._linger(room_id, room)

    def _linger(self, room_id: int, room: NotesRoom) -> None:
        def forget() -> None:
            if self._closing.get(room_id) is room:
                del self._closing[room_id]

        loop = asyncio.get_running_loop()
        self._lingering = [h for h in self._lingering if h.when() > loop.time()]
        self._lingering.append(loop.call_later(LINGER_SECONDS, forget))

    async def _send(self, room_id: int, sid: str, outbound: list[Outbound]) -> None:
        for target, data in outbound:
            if target == "sender":
                await self._transport.send(room_id, data, sid, None)
            else:
                await self._transport.send(room_id, data, keys.notes_room(room_id), sid)

    async def _tell_others(
        self, room_id: int, sid: str, message: bytes, outbound: list[Outbound]
    ) -> None:
        relayed = [data for target, data in outbound if target == "others"]
        if not relayed:
            return
        parsed = parse_message(message)
        if isinstance(parsed, AwarenessMessage):
            await self._publish(BusMessage(self._node, room_id, "awareness", sid, message))
        else:  # an update (or step 2) this node stored: the others apply it without storing
            await self._publish(BusMessage(self._node, room_id, "update", sid, parsed.payload))

    async def _publish(self, message: BusMessage) -> bool:
        """Publish on the bus; a failure is logged, never the sender's problem (the update is
        stored), and the room asks the others to sync with it once the bus works again."""
        try:
            await self._bus.publish(message)
        except Exception as exc:
            log_unexpected("notes bus publish", exc)
            self._unpublished.add(message.room_id)
            return False
        if self._unpublished:
            again, self._unpublished = self._unpublished, set()
            for room_id in again:
                if (room := self._rooms.get(room_id)) is not None:
                    await self._ask(room_id, room, "open")
        return True

    # -- catching up between nodes ------------------------------------------------------------
    #
    # The bus is fire-and-forget: a node that does not hold a room open drops its updates, and
    # one that is not subscribed (Redis reconnecting) hears nothing. So when a node opens a
    # room, and for every open room after it (re)subscribes, it publishes a sync request
    # ("sync", peer "open") with its state vector. Every node holding the room (open, closing,
    # or with updates of it still in its write-behind buffer) answers with what the asker lacks
    # ("state": applied there and sent to its connections, not stored again, since the
    # answering node stored it), and asks back (peer "back": answered, never asked back), so
    # updates the asker could not publish reach the others too.

    async def _resync(self) -> None:
        for room_id, room in list(self._rooms.items()):
            await self._ask(room_id, room, "open")

    async def _ask(self, room_id: int, room: NotesRoom, why: str, to: str = "") -> None:
        await self._publish(BusMessage(self._node, room_id, "sync", why, room.state_vector(), to))

    async def _answer(self, message: BusMessage) -> None:
        room = self._rooms.get(message.room_id) or self._closing.get(message.room_id)
        if room is not None:
            missing = room.missing(message.data)
            if message.peer == "open" and message.room_id in self._rooms:
                await self._ask(message.room_id, room, "back", to=message.node)
        else:
            buffered = self.storage.buffered(str(message.room_id))
            if not buffered:
                return
            missing = get_update(merge_all(buffered), message.data)
        if missing != EMPTY_UPDATE:
            await self._publish(
                BusMessage(self._node, message.room_id, "state", "", missing, message.node))

    async def _from_other_node(self, message: BusMessage) -> None:
        if message.kind == "evict":
            await self.evict(message.room_id, message.peer, everywhere=False)
            return
        if message.to and message.to != self._node:
            return
        if message.kind == "sync":
            try:
                await self._answer(message)
            except BaseException as exc:
                reraise_unless_pycrdt_failure(exc)
                log_unexpected("notes sync request from another node", exc)
            return
        if message.kind not in ("update", "state", "awareness"):
            return
        if message.room_id in self._opening:
            self._opening[message.room_id].pending.append(message)
        room = self._rooms.get(message.room_id)
        if room is None:
            return  # nobody here: the next open loads it from the database
        try:
            await self._apply_remote(room, message)
        except Exception as exc:
            log_unexpected("notes from another node", exc)

    async def _apply_remote(self, room: NotesRoom, message: BusMessage) -> None:
        peer = f"{message.node}:{message.peer}"
        if message.kind in ("update", "state"):
            try:
                room.apply_update(message.data, capped=message.kind == "update")
            except RoomsError as exc:
                log_unexpected("notes update from another node", exc)
                return
            await self._transport.send(message.room_id, sync_update(message.data),
                                       keys.notes_room(message.room_id), None)
        else:
            try:
                outbound = await room.handle(message.data, peer)
            except RoomsError as exc:
                log_unexpected("notes awareness from another node", exc)
                return
            for _target, data in outbound:
                await self._transport.send(message.room_id, data, keys.notes_room(message.room_id),
                                           None)


def _only_reading(message: bytes) -> None:
    """Readers (archivists, the cross-room view) may ask for the document, nothing else."""
    try:
        parsed = parse_message(message)
    except RoomsError as exc:
        raise domain_error(exc) from exc
    if isinstance(parsed, AwarenessMessage) or parsed.kind.value != 0:
        raise DomainError("notes.read_only", "Du kan läsa men inte skriva i anteckningarna.")


async def _writable(db: AsyncSession, principal: Principal, event_id: int, room_id: int) -> bool:
    """Raise ``room.not_member`` / ``room.not_found`` unless the caller may read; True if write."""
    try:  # members and moderators, the common case: one check
        await room_access(db, principal, event_id, room_id, write=True)
    except DomainError as refused:
        if refused.code != "room.not_member":
            raise
        await room_access(db, principal, event_id, room_id, write=False)  # readers, or raise
        return False
    return True


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
