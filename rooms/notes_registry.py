"""The notes rooms one node holds open, its peers' seats, and the relay between nodes.

``rooms.notes.NotesRoom`` does the CRDT work of one room; this module owns the rooms of a node:
opened on the first seat, compacted and closed when the last local peer leaves, all closed on
shutdown. It routes each room's outbound messages to this node's peers (``Transport``) and tells
the other nodes about every update it stored and every awareness change (``NotesBus``), so each
node's in-memory document converges without anything being stored twice: only the node that
received an update from a peer appends it.

It knows nothing of who may write: the server seats a peer after its own membership check and
re-checks it through the ``Recheck`` port. Nothing here imports a web framework or the server;
the server supplies the transport (socket.io), the bus (Redis) and the storage (its database).
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

from pycrdt import get_update

from rooms.errors import RoomsError
from rooms.notes import (
    EMPTY_UPDATE,
    ErrorHook,
    NotesLimits,
    NotesRoom,
    Outbound,
    merge_all,
    reraise_unless_pycrdt_failure,
)
from rooms.notes_storage import CompactionPolicy, NotesStorage, StoredNotes
from rooms.ysync import AwarenessMessage, SyncMessage, parse_message, sync_update

LINGER_SECONDS = 2.0
"""How long a closed room's document still answers other nodes' sync requests (see _close)."""

RECHECK_SECONDS = 30.0
"""How long a membership check holds before the next message checks again (moves, removals)."""


# ---------------------------------------------------------------------------------------------
# Between nodes


@dataclass(frozen=True)
class BusMessage:
    """What one node tells the others.

    Kinds: ``update`` (an update it stored), ``awareness`` (a peer's awareness change),
    ``evict`` (peer: the person's key, data empty), ``freeze`` (the room became read-only for
    all but staff, data empty), ``sync`` (a sync request: data is the
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


# ---------------------------------------------------------------------------------------------
# Storage written behind


class BatchStorage(NotesStorage, Protocol):
    async def append_many(self, batch: list[tuple[str, bytes]]) -> None:
        """Several rooms' updates in one transaction, each room's in its arrival order."""
        ...

    async def stored_bytes(self, room_id: str) -> int: ...


class WriteBehindStorage:
    """Appends are buffered and written together every ``interval`` seconds.

    One transaction per keystroke was what limited the notes on a busy node (420 editors typing
    make about 840 appends a second). A node that dies loses at most ``interval`` seconds of
    updates, and on reconnect every editor's browser answers the server's sync step 1 with what
    it lacks. Reads and compactions flush first, so they always see every accepted update.
    """

    def __init__(self, inner: BatchStorage, interval: float = 0.05,
                 on_error: ErrorHook | None = None) -> None:
        self._inner = inner
        self._interval = interval
        self._on_error = on_error or _print_error
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
                self._on_error("notes write-behind", exc)
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
            self._on_error("notes write-behind at shutdown", exc)


def _print_error(where: str, exc: BaseException) -> None:
    import logging

    logging.getLogger("rooms").error("unexpected error in %s: %r", where, exc, exc_info=exc)


# ---------------------------------------------------------------------------------------------
# The rooms open on this node


class Transport(Protocol):
    """This node's peers: the server supplies it (socket.io connections)."""

    async def send(self, room_id: int, data: bytes, to: str | None, skip: str | None) -> None:
        """One message to a peer (``to``), or to everyone in the room (``to`` None) but
        ``skip``."""
        ...

    async def enter(self, peer: str, room_id: int) -> None: ...

    async def leave(self, peer: str, room_id: int) -> None: ...


@dataclass
class Seat:
    """One peer in one room: whose it is (``person``, "participant:<id>"), may it write, when
    was that last checked, and what the server needs to check it again (``context``)."""

    person: str
    writable: bool
    context: Any = None
    staff: bool = False
    """Moderators keep writing when a room is frozen (its round closed)."""
    messages: TokenBucket | None = None
    volume: TokenBucket | None = None
    checked_at: float = field(default_factory=time.monotonic)
    rechecking: bool = False
    recheck_after: float = field(
        default_factory=lambda: RECHECK_SECONDS * random.uniform(0.8, 1.2))
    """Seconds between re-checks, spread so that a round's seats do not all come due at once."""


class TokenBucket:
    """`rate` a second sustained, `burst` at once: what one peer may send."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self, amount: float) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class SeatRevoked(RoomsError):
    """Raised by a ``Recheck`` when the peer no longer belongs to the room: it is unseated."""

    def __init__(self) -> None:
        super().__init__("notes.not_member", "no longer a member of the room")


Recheck = Callable[[Seat, int], Awaitable[bool]]
"""The server's membership check of a seat in a room: whether it may write; raises
``SeatRevoked`` when the peer no longer belongs there."""


@dataclass
class _Opening:
    """A room being loaded: updates the bus brings meanwhile are applied once it is open."""

    task: asyncio.Task[NotesRoom]
    pending: list[BusMessage] = field(default_factory=list)


class NotesRegistry:
    """Owns the ``NotesRoom`` objects of this node and the seats of its peers."""

    def __init__(
        self, storage: WriteBehindStorage, transport: Transport, bus: NotesBus, node_id: str,
        *, recheck: Recheck | None = None, limits: NotesLimits | None = None,
        policy: CompactionPolicy | None = None, on_error: ErrorHook | None = None,
    ) -> None:
        self.storage = storage
        self._transport = transport
        self._bus = bus
        self._node = node_id
        self._recheck_port = recheck
        self._limits = limits or NotesLimits()
        self._policy = policy or CompactionPolicy()
        self._on_error = on_error or _print_error
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

    async def seat(self, peer: str, room_id: int, theme_keys: Sequence[str], seat: Seat) -> None:
        """Seat a peer the server has let in; open the room if needed and greet the peer."""
        room = await self._room(room_id, list(theme_keys))
        await self._add_sections(room_id, room, list(theme_keys))
        self._seats.setdefault(peer, {})[room_id] = seat
        await self._transport.enter(peer, room_id)
        for _target, data in room.join(peer):
            await self._transport.send(room_id, data, peer, None)

    async def receive(self, peer: str, room_id: int, message: bytes) -> None:
        """One y-protocols message from a seated peer: validate, store, relay."""
        seat = self._seat(peer, room_id)
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomsError("notes.not_joined", "join the room's notes first")
        self._meter(seat, len(message))
        if not seat.writable:
            _only_reading(message)
        outbound = await room.handle(message, peer)
        await self._send(room_id, peer, outbound)
        await self._tell_others(room_id, peer, message, outbound)

    def _meter(self, seat: Seat, size: int) -> None:
        """One peer's pace: refused past its rate (the others' messages are not held up)."""
        limits = self._limits
        if seat.messages is None or seat.volume is None:
            seat.messages = TokenBucket(limits.messages_per_second, limits.message_burst)
            seat.volume = TokenBucket(limits.bytes_per_second, limits.byte_burst)
        if not seat.messages.take(1) or not seat.volume.take(size):
            raise RoomsError("notes.rate_limited", "too many changes too fast")

    async def leave(self, peer: str, room_id: int) -> None:
        if self._seats.get(peer, {}).pop(room_id, None) is None:
            return
        await self._transport.leave(peer, room_id)
        room = self._rooms.get(room_id)
        if room is not None:
            gone = room.leave(peer)
            await self._send(room_id, peer, gone)
            for _target, data in gone:
                await self._publish(BusMessage(self._node, room_id, "awareness", peer, data))
        if not any(room_id in seats for seats in self._seats.values()):
            await self._close(room_id)

    async def disconnect(self, peer: str) -> None:
        for room_id in list(self._seats.get(peer, {})):
            await self.leave(peer, room_id)
        self._seats.pop(peer, None)

    async def evict(self, room_id: int, person: str, *, everywhere: bool = True) -> None:
        """Unseat every peer of ``person`` from a room, on every node (someone moved out)."""
        for peer in [peer for peer, seats in self._seats.items()
                     if room_id in seats and seats[room_id].person == person]:
            await self.leave(peer, room_id)
        if everywhere:
            await self._bus.publish(BusMessage(self._node, room_id, "evict", person, b""))

    async def freeze(self, room_id: int, *, everywhere: bool = True) -> None:
        """Make the room read-only for every seated peer but staff, on every node (its round
        was closed); new seats are the server's to refuse writing."""
        for seats in self._seats.values():
            seat = seats.get(room_id)
            if seat is not None and not seat.staff:
                seat.writable = False
        if everywhere:
            await self._bus.publish(BusMessage(self._node, room_id, "freeze", "", b""))

    def open_room(self, room_id: int) -> NotesRoom | None:
        """The room's document if this node holds it open (tests, benchmark, diagnostics)."""
        return self._rooms.get(room_id)

    # -- internals ----------------------------------------------------------------------------

    def _seat(self, peer: str, room_id: int) -> Seat:
        """The peer's seat; a due membership re-check runs beside, never in the way.

        Moves and closes evict at once (`evict`); the re-check is the safety net for what
        changes without telling us. Awaiting it here held up every keystroke of the room behind
        a database round trip, all seats of a round coming due together (bench/notes.py).
        """
        seat = self._seats.get(peer, {}).get(room_id)
        if seat is None:
            raise RoomsError("notes.not_joined", "join the room's notes first")
        due = time.monotonic() - seat.checked_at > seat.recheck_after
        if self._recheck_port is not None and not seat.rechecking and due:
            seat.rechecking = True
            task = asyncio.create_task(self._recheck(peer, room_id, seat))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)
        return seat

    async def _recheck(self, peer: str, room_id: int, seat: Seat) -> None:
        assert self._recheck_port is not None
        try:
            seat.writable = await self._recheck_port(seat, room_id)
        except SeatRevoked:
            await self.leave(peer, room_id)
            return
        except Exception as exc:  # the database is away: keep the seat, try again next time
            self._on_error("notes membership re-check", exc)
        finally:
            seat.rechecking = False
        seat.checked_at = time.monotonic()

    async def _room(self, room_id: int, theme_keys: list[str]) -> NotesRoom:
        if room_id in self._rooms:
            return self._rooms[room_id]
        if room_id not in self._opening:
            task = asyncio.create_task(NotesRoom.open(
                str(room_id), theme_keys, self.storage, self._limits, self._policy,
                self._on_error))
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
            await self._transport.send(room_id, data, None, None)
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
            self._on_error("notes close", exc)
        finally:
            self._linger(room_id, room)

    def _linger(self, room_id: int, room: NotesRoom) -> None:
        def forget() -> None:
            if self._closing.get(room_id) is room:
                del self._closing[room_id]

        loop = asyncio.get_running_loop()
        self._lingering = [h for h in self._lingering if h.when() > loop.time()]
        self._lingering.append(loop.call_later(LINGER_SECONDS, forget))

    async def _send(self, room_id: int, peer: str, outbound: list[Outbound]) -> None:
        for target, data in outbound:
            if target == "sender":
                await self._transport.send(room_id, data, peer, None)
            else:
                await self._transport.send(room_id, data, None, peer)

    async def _tell_others(
        self, room_id: int, peer: str, message: bytes, outbound: list[Outbound]
    ) -> None:
        relayed = [data for target, data in outbound if target == "others"]
        if not relayed:
            return
        parsed = parse_message(message)
        if isinstance(parsed, AwarenessMessage):
            await self._publish(BusMessage(self._node, room_id, "awareness", peer, message))
        else:  # an update (or step 2) this node stored: the others apply it without storing
            await self._publish(BusMessage(self._node, room_id, "update", peer, parsed.payload))

    async def _publish(self, message: BusMessage) -> bool:
        """Publish on the bus; a failure is logged, never the sender's problem (the update is
        stored), and the room asks the others to sync with it once the bus works again."""
        try:
            await self._bus.publish(message)
        except Exception as exc:
            self._on_error("notes bus publish", exc)
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
    # ("state": applied there, sent to its peers and stored, like a relayed update: see
    # `_apply_remote`), and asks back (peer "back": answered, never asked back), so updates the
    # asker could not publish reach the others too.

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
        if message.kind == "freeze":
            await self.freeze(message.room_id, everywhere=False)
            return
        if message.to and message.to != self._node:
            return
        if message.kind == "sync":
            try:
                await self._answer(message)
            except BaseException as exc:
                reraise_unless_pycrdt_failure(exc)
                self._on_error("notes sync request from another node", exc)
            return
        if message.kind not in ("update", "state", "awareness"):
            return
        if message.room_id in self._opening:
            self._opening[message.room_id].pending.append(message)
        room = self._rooms.get(message.room_id)
        if room is None:
            return  # nobody here: the next open loads it from storage
        try:
            await self._apply_remote(room, message)
        except Exception as exc:
            self._on_error("notes from another node", exc)

    async def _apply_remote(self, room: NotesRoom, message: BusMessage) -> None:
        peer = f"{message.node}:{message.peer}"
        if message.kind in ("update", "state"):
            try:
                room.apply_update(message.data, capped=message.kind == "update")
            except RoomsError as exc:
                self._on_error("notes update from another node", exc)
                return
            # Stored here too: the node that accepted it may die before its write-behind
            # writes it, and then no editor sends it again (their reconnection's sync finds it
            # in this node's document). bench/rehearsal.py lost hundreds of updates so. A
            # duplicate costs a row until the next compaction; Yjs applies it once.
            await self.storage.append_update(str(message.room_id), message.data)
            await self._transport.send(message.room_id, sync_update(message.data), None, None)
        else:
            try:
                outbound = await room.handle(message.data, peer)
            except RoomsError as exc:
                self._on_error("notes awareness from another node", exc)
                return
            for _target, data in outbound:
                await self._transport.send(message.room_id, data, None, None)


def _only_reading(message: bytes) -> None:
    """Readers (archivists, the cross-room view) may ask for the document, nothing else."""
    parsed = parse_message(message)
    if isinstance(parsed, AwarenessMessage) or parsed.kind.value != 0:
        raise RoomsError("notes.read_only", "may read but not write the notes")
