"""Shared notes of a breakout room: the server side of y-protocols sync over pycrdt.

One pycrdt ``Doc`` per room holds a ``Map`` named ``"themes"``: theme id -> ``Text``, one
section per §18 theme. The server merges, stores and relays updates; it never edits text itself,
because pycrdt 0.14 counts positions in UTF-8 bytes where Yjs counts UTF-16 units.

Who creates the sections: the server, once. Two sides creating the same map entries
concurrently would conflict (one ``Text`` wins, edits made in the other are lost), so browsers
must never create them; they wait for sync step 2 and look the texts up. The server writes each
section with a Yjs client id derived from the theme key alone (:func:`section_client_id`), so a
section's bytes are identical whichever node builds them and independent of which other
sections exist: two nodes racing to open the same room, even with different theme lists, store
the same items twice, which Yjs merges as one. A new room's first stored update, its
*genesis*, is all its sections; a theme added to the event later gets its section when a node
next opens the room (or seats someone in it). (Rooms stored by earlier versions have all
their first sections written by client id 1; they load and work as they are.)

The transport is not ours: :meth:`NotesRoom.handle` takes the bytes a peer sent and returns
``(target, bytes)`` pairs, ``target`` being ``"sender"`` or ``"others"``; the server emits them
(socket.io rooms, Redis) and passes updates received from other nodes to
:meth:`NotesRoom.apply_update`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pycrdt import Doc, Map, MapEvent, Text, get_update, merge_updates

from rooms.awareness import AwarenessBook
from rooms.errors import RoomsError
from rooms.notes_storage import CompactionPolicy, NotesStorage
from rooms.ysync import (
    AwarenessMessage,
    SyncType,
    UpdateOutline,
    parse_message,
    parse_state_vector,
    sync_step1,
    sync_step2,
    sync_update,
    update_outline,
)

THEMES = "themes"
"""Name of the root map, shared with the browser code."""

SECTION_CLIENT_BASE = 2**32
"""Client ids of sections added later lie in [2**32, 2**32 + 2**52): never a browser's (Yjs
picks 32-bit ids) and still exact in JavaScript numbers (lib0 varUints carry 53 bits)."""

COMPACTION_RETRY_SECONDS = 5.0
"""After a failed compaction, the next one due waits at least this long (the log stays whole)."""

EMPTY_UPDATE = b"\x00\x00"

log = logging.getLogger(__name__)

Target = Literal["sender", "others"]
Outbound = tuple[Target, bytes]
ErrorHook = Callable[[str, BaseException], None]
"""Where unexpected failures of background work go: ``(where, exception)``; the server passes
its one logging hook (``server.errors.log_unexpected``)."""


def _log_error(where: str, exc: BaseException) -> None:
    log.error("unexpected error in %s: %r", where, exc, exc_info=exc)


@dataclass(frozen=True)
class NotesLimits:
    """Caps on what a peer may send; anything larger is refused with ``notes.too_large``."""

    max_message_bytes: int = 64 * 1024
    max_awareness_bytes: int = 8 * 1024
    max_awareness_clients_per_peer: int = 4
    max_document_bytes: int = 1024 * 1024
    """A room's document, as stored: past it, further updates are refused with
    ``notes.room_full`` (a room's notes are a few tens of kB; this stops one peer from making
    every newcomer download megabytes)."""
    messages_per_second: float = 30.0
    """Sustained messages one peer may send (typing with cursors is ~10-20 a second)..."""
    message_burst: int = 60
    """...and how many at once (a reconnect's sync, a paste)."""
    bytes_per_second: float = 32 * 1024
    byte_burst: int = 192 * 1024


DEFAULT_LIMITS = NotesLimits()
DEFAULT_POLICY = CompactionPolicy()


def build_genesis(theme_ids: Sequence[str]) -> bytes:
    """The update that creates one empty ``Text`` per theme: the sections of a new room.

    Each section is written by its own key-derived client id (:func:`build_section`), never by
    one shared id: two nodes that open a new room with different theme lists (a theme added to
    the event meanwhile) would otherwise store different items under the same ids, and Yjs,
    which takes an id to name one item, would keep one node's sections and drop the edits
    made in the other's (measured: tests/unit/test_notes_sync.py).
    """
    return merge_all([build_section(theme_id) for theme_id in sorted(set(theme_ids))])


def section_client_id(theme_id: str) -> int:
    """The Yjs client id that creates a later-added theme's section: a function of the key."""
    digest = hashlib.sha256(theme_id.encode("utf-8")).digest()
    return SECTION_CLIENT_BASE + int.from_bytes(digest[:8], "big") % 2**52


def build_section(theme_id: str) -> bytes:
    """The update that creates one empty section, byte-identical on every node."""
    doc: Doc[Map[Text]] = Doc(client_id=section_client_id(theme_id))
    doc.get(THEMES, type=Map)[theme_id] = Text()
    return doc.get_update()


MERGE_FAN_IN = 64


def merge_all(updates: Sequence[bytes]) -> bytes:
    """``merge_updates`` over any number of updates, as a tree of merges of up to 64.

    pycrdt 0.14's merge of n updates grows about quadratically: 5000 keystrokes took 150 ms in
    one merge (blocking the event loop for everyone on the node) and 9 ms as a tree. Running it
    in a thread does not help: pycrdt holds the GIL, and the loop stalled longer (measured).
    """
    level = list(updates)
    if not level:
        return EMPTY_UPDATE
    while len(level) > 1:
        level = [merge_updates(*level[i : i + MERGE_FAN_IN]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), MERGE_FAN_IN)]
    return level[0]


def compact_updates(updates: Sequence[bytes]) -> bytes:
    """Fold updates into one snapshot: deleted text dropped, not-yet-applicable parts kept.

    A document re-encodes without deleted content, but silently drops updates still waiting
    for a missing predecessor (possible when nodes store out of order), so those are merged
    back from the raw log.
    """
    merged = merge_all(updates)
    doc: Doc[Map[Text]] = Doc()
    doc.apply_update(merged)
    pending = get_update(merged, doc.get_state())
    return merge_updates(doc.get_update(), pending)


class NotesRoom:
    """The notes document of one breakout room, with validation, storage and compaction."""

    def __init__(
        self,
        room_id: str,
        theme_ids: Sequence[str],
        storage: NotesStorage,
        limits: NotesLimits = DEFAULT_LIMITS,
        policy: CompactionPolicy = DEFAULT_POLICY,
        on_error: ErrorHook = _log_error,
    ) -> None:
        """Prefer :meth:`open`, which loads what is stored; this starts from nothing."""
        self.room_id = room_id
        self.theme_ids = tuple(theme_ids)
        self._storage = storage
        self._limits = limits
        self._policy = policy
        self._doc: Doc[Map[Text]] = Doc()
        self._touched: list[MapEvent] = []
        self._shadow: Doc[Map[Text]] = self._new_shadow()
        self._awareness = AwarenessBook(limits.max_awareness_clients_per_peer)
        self._lock = asyncio.Lock()
        self._since_compaction = (0, 0)
        self.size = 0
        """The stored document's bytes: what was loaded, plus what was appended since, until
        a compaction folds it (deleted text still counts until then)."""
        self._compacting: asyncio.Task[None] | None = None
        self._on_error = on_error
        self._compact_not_before = 0.0

    @classmethod
    async def open(
        cls,
        room_id: str,
        theme_ids: Sequence[str],
        storage: NotesStorage,
        limits: NotesLimits = DEFAULT_LIMITS,
        policy: CompactionPolicy = DEFAULT_POLICY,
        on_error: ErrorHook = _log_error,
    ) -> NotesRoom:
        """Load a room from storage, storing the genesis first if the room is new, and the
        sections of themes added since."""
        room = cls(room_id, theme_ids, storage, limits, policy, on_error)
        stored = await storage.load(room_id)
        history = ([stored.snapshot] if stored.snapshot else []) + stored.updates
        if not history:
            history = [build_genesis(theme_ids)]
            await storage.append_update(room_id, history[0])
        room._load(merge_all(history))
        room.size = sum(map(len, history))
        room._since_compaction = (len(stored.updates), sum(map(len, stored.updates)))
        await room.add_sections(theme_ids)
        return room

    def _load(self, update: bytes) -> None:
        self._doc.apply_update(update)
        self._reset_shadow()

    # -----------------------------------------------------------------------------------------
    # Peers

    def join(self, peer: Hashable) -> list[Outbound]:
        """Greet a new peer: our state vector (so it sends what we lack) and who is here."""
        out: list[Outbound] = [("sender", sync_step1(self._doc.get_state()))]
        present = self._awareness.join_message()
        return out + ([("sender", present)] if present else [])

    def leave(self, peer: Hashable) -> list[Outbound]:
        """Forget a peer; tells the others to drop its cursors."""
        gone = self._awareness.leave_message(peer)
        return [("others", gone)] if gone else []

    async def handle(self, message: bytes, sender: Hashable) -> list[Outbound]:
        """Process one y-protocols message from ``sender``; return what to send to whom.

        Raises ``RoomsError`` (``notes.too_large``, ``notes.malformed``, ``notes.rejected``,
        ``notes.forbidden_change``, ``notes.awareness_invalid``); the document is then unchanged.
        """
        if len(message) > self._limits.max_message_bytes:
            raise RoomsError("notes.too_large", f"message of {len(message)} bytes")
        parsed = parse_message(message)
        if isinstance(parsed, AwarenessMessage):
            return self._handle_awareness(message, parsed, sender)
        if parsed.kind is SyncType.STEP1:
            return [("sender", sync_step2(self.missing(parsed.payload)))]
        return await self._receive(parsed.payload)

    def _handle_awareness(
        self, message: bytes, parsed: AwarenessMessage, sender: Hashable
    ) -> list[Outbound]:
        if len(message) > self._limits.max_awareness_bytes:
            raise RoomsError("notes.too_large", "awareness message too large")
        self._awareness.apply(parsed.payload, sender)
        return [("others", message)]

    def missing(self, state_vector: bytes) -> bytes:
        """What a peer (or node) with ``state_vector`` lacks, as one update."""
        try:
            return self._doc.get_update(state_vector)
        except BaseException as exc:
            reraise_unless_pycrdt_failure(exc)
            raise RoomsError("notes.malformed", f"unreadable state vector: {exc}") from exc

    async def _receive(self, update: bytes) -> list[Outbound]:
        if update == EMPTY_UPDATE:
            return []
        if self.size + len(update) > self._limits.max_document_bytes:
            raise RoomsError("notes.room_full", f"the room's notes hold {self.size} bytes")
        async with self._lock:
            self._try_on_shadow(update)
            try:
                await self._storage.append_update(self.room_id, update)
            except BaseException:
                self._reset_shadow()  # the shadow ran ahead of the document: bring it back
                raise
            self._doc.apply_update(update)
            self._count(len(update))
        await self._compact_if_due()
        return [("others", sync_update(update))]

    # -----------------------------------------------------------------------------------------
    # Other nodes, reading and compaction

    def apply_update(self, update: bytes, *, capped: bool = True) -> None:
        """Apply an update another node already validated and stored; it is checked again.

        Only servers create sections, so an update from another node may add sections (a theme
        added to the event) but never replace or remove one. ``capped=False`` lifts the size
        cap for what a node answers a sync request with (it can hold many updates).
        """
        if capped and len(update) > self._limits.max_message_bytes:
            raise RoomsError("notes.too_large", f"update of {len(update)} bytes")
        if update != EMPTY_UPDATE:
            self._try_on_shadow(update, new_sections=True)
            self._doc.apply_update(update)

    async def add_sections(self, theme_ids: Sequence[str]) -> list[Outbound]:
        """Store and apply a section for every theme the document lacks; what to relay.

        Safe on several nodes at once: each section's update is the same bytes everywhere.
        """
        order = list(dict.fromkeys([*theme_ids, *self.theme_ids]))
        themes = self._doc.get(THEMES, type=Map)
        missing = sorted(set(theme_ids) - set(themes.keys()))
        if not missing:
            self.theme_ids = tuple(order)
            return []
        update = merge_all([build_section(theme_id) for theme_id in missing])
        async with self._lock:
            await self._storage.append_update(self.room_id, update)
            self._doc.apply_update(update)
            self._reset_shadow()
            self._count(len(update))
        self.theme_ids = tuple(order)
        return [("others", sync_update(update))]

    def snapshot(self) -> bytes:
        """The whole document as one update (what a new peer or an export needs)."""
        return self._doc.get_update()

    def state_vector(self) -> bytes:
        """The document's state vector."""
        return self._doc.get_state()

    def texts(self) -> dict[str, str]:
        """Whole text per theme, in theme order; only whole texts, never offsets."""
        themes = self._doc.get(THEMES, type=Map)
        return {tid: str(themes[tid]) for tid in self.theme_ids if tid in themes}

    async def compact(self) -> bool:
        """Fold the stored log into a snapshot now (also done by policy, and on close).

        Safe beside appends: only the rows this compaction loaded are deleted. True when the
        snapshot was stored (or nothing needed folding); False when another compaction of the
        room won the race. What arrives meanwhile counts towards the next compaction; if this
        one fails or loses, what it would have folded counts again too.
        """
        counted, self._since_compaction = self._since_compaction, (0, 0)
        done = False
        try:
            stored = await self._storage.load(self.room_id)
            if not stored.updates:
                done = True
                return True
            history = ([stored.snapshot] if stored.snapshot else []) + stored.updates
            snapshot = compact_updates(history)
            done = await self._storage.replace_with_snapshot(self.room_id, snapshot, stored)
            if done:  # what arrived meanwhile is stored beside the snapshot
                self.size = len(snapshot) + self._since_compaction[1]
            return done
        finally:
            if not done:
                count, size = self._since_compaction
                self._since_compaction = (count + counted[0], size + counted[1])

    async def compacted(self) -> None:
        """Wait for a compaction running in the background, if any (tests, shutdown)."""
        if self._compacting is not None:
            await asyncio.gather(self._compacting, return_exceptions=True)

    async def close(self) -> None:
        """Compact what this node stored since the last compaction; the owner calls this."""
        await self.compacted()
        if self._since_compaction[0]:
            await self.compact()

    def _count(self, size: int) -> None:
        count, total = self._since_compaction
        self._since_compaction = (count + 1, total + size)
        self.size += size

    async def _compact_if_due(self) -> None:
        """Start a compaction beside the relay: the update that made it due is not held up."""
        busy = self._compacting is not None and not self._compacting.done()
        if busy or time.monotonic() < self._compact_not_before:
            return
        if self._policy.due(*self._since_compaction):
            self._compacting = asyncio.create_task(self._compact_in_background())

    async def _compact_in_background(self) -> None:
        try:
            await self.compact()
        except BaseException as exc:  # the log stays as it was; a later compaction tries again
            reraise_unless_pycrdt_failure(exc)
            self._compact_not_before = time.monotonic() + COMPACTION_RETRY_SECONDS
            self._on_error(f"compacting the notes of room {self.room_id}", exc)

    # -----------------------------------------------------------------------------------------
    # Validation on the shadow: an exact copy of the document that takes every update first

    def _try_on_shadow(self, update: bytes, new_sections: bool = False) -> None:
        """Apply to the shadow; on any failure rebuild it from the document and refuse.

        ``new_sections``: the update comes from another node, which validated it whole against
        its own document; it may add theme sections (never replace or delete one), and it may
        refer to what this node has not heard of yet (a section that node added), so it may
        stay pending here until that arrives. A peer's update must integrate whole.
        """
        self._touched.clear()
        try:
            outline = update_outline(update)  # read before anything is applied
        except RoomsError as exc:
            raise RoomsError("notes.rejected", f"update cannot be read: {exc}") from exc
        try:
            self._shadow.apply_update(update)
            state = parse_state_vector(self._shadow.get_state())
        except BaseException as exc:
            reraise_unless_pycrdt_failure(exc)
            self._reset_shadow()
            raise RoomsError("notes.rejected", f"update cannot be applied: {exc}") from exc
        if not new_sections and not integrates(outline, state):
            # Yjs would keep the part it cannot place as pending, and a damaged update's
            # pending part can later break the snapshot every newcomer loads.
            self._reset_shadow()
            raise RoomsError("notes.rejected", "update refers to content the room does not have")
        if self._touched and not (new_sections and self._only_added()):
            self._reset_shadow()
            raise RoomsError("notes.forbidden_change", "only the server creates theme sections")

    def _only_added(self) -> bool:
        """Every change to the theme map adds a key (pycrdt declares ``keys`` in __slots__
        only, hence untyped)."""
        changes: list[dict[str, Any]] = [
            change for event in self._touched
            for change in cast(dict[str, dict[str, Any]], event.keys).values()  # type: ignore[attr-defined]
        ]
        return all(change.get("action") == "add" for change in changes)

    def _reset_shadow(self) -> None:
        self._shadow = self._new_shadow()
        self._shadow.apply_update(self._doc.get_update())

    def _new_shadow(self) -> Doc[Map[Text]]:
        """An empty shadow that notes any change to the theme map itself in `_touched`.

        Subscribed once per shadow, not per update: pycrdt's `observe` inspects the callback's
        signature each time, which cost a quarter of the server's time under bench/notes.py.
        """
        shadow: Doc[Map[Text]] = Doc()
        themes = shadow.get(THEMES, type=Map)
        # Held on self: dropping the Map wrapper or its subscription would end the observation.
        self._shadow_watch = (themes, themes.observe(self._touched.append))
        return shadow


def integrates(outline: UpdateOutline, state: dict[int, int]) -> bool:
    """True when a document in `state` (after the update) holds every struct the update brought
    and everything its delete set names: nothing of it is left pending."""
    return all(state.get(client, 0) >= end for client, end in outline.ends.items()) and all(
        clock + length <= state.get(client, 0) for client, clock, length in outline.deletes)


def reraise_unless_pycrdt_failure(exc: BaseException) -> None:
    """Let cancellation and exits through; pycrdt failures become a refusal.

    pycrdt reports Rust panics as ``PanicException``, a ``BaseException`` subclass, so a plain
    ``except Exception`` would let a hostile update crash the handler.
    """
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc


_reraise_unless_pycrdt_failure = reraise_unless_pycrdt_failure
