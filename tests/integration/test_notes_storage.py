"""Stored notes on both databases: nothing depends on the order of update ids.

SQLite reuses the ids of deleted rows (``note_updates`` has no AUTOINCREMENT): after a
compaction deletes a room's rows, the next updates get the same ids again. A load that skipped
ids up to the snapshot's mark lost every edit written after a close-and-compact.

The registry runs in this process on the real database; its connections are ``Editor`` objects
(pycrdt, like the browser) behind an in-memory transport. ``Editor`` and ``FakeTransport`` are
shared with tests/integration/test_notes_relay.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rooms.notes_client import NotesClient
from rooms.notes_registry import LocalBus, NotesBus
from rooms.notes_storage import NEVER
from server.notes.models import NoteSnapshot, NoteUpdate
from server.notes.service import NotesRegistry, stored_texts
from server.platform import keys
from server.platform.auth import Principal
from server.platform.db import Database, upgrade_async
from tests.conftest import seed
from tests.integration.test_notes_support import Rooms, make_rooms

THEMES = ["utformning", "anvandning", "uppfoljning", "kris"]
MODERATOR = Principal("user", 1, "Moderator Mona", role="moderator")


class FakeTransport:
    """This node's connections, in memory: what the registry sends waits in each one's inbox."""

    def __init__(self) -> None:
        self.inbox: dict[str, list[bytes]] = defaultdict(list)
        self.members: dict[str, set[str]] = defaultdict(set)

    async def send(self, room_id: int, data: bytes, to: str | None, skip: str | None) -> None:
        for sid in sorted(self.members[keys.notes_room(room_id)]) if to is None else [to]:
            if sid != skip:
                self.inbox[sid].append(data)

    async def enter(self, sid: str, room_id: int) -> None:
        self.members[keys.notes_room(room_id)].add(sid)

    async def leave(self, sid: str, room_id: int) -> None:
        self.members[keys.notes_room(room_id)].discard(sid)


class Editor:
    """One connection: a pycrdt editor answering what the registry sends it."""

    def __init__(self, registry: NotesRegistry, transport: FakeTransport, sid: str,
                 room_id: int) -> None:
        self.registry, self.transport, self.sid, self.room_id = registry, transport, sid, room_id
        self.notes = NotesClient()

    @classmethod
    async def join(cls, registry: NotesRegistry, transport: FakeTransport, sid: str,
                   rooms: Rooms, room_id: int) -> Editor:
        editor = cls(registry, transport, sid, room_id)
        await registry.join(sid, MODERATOR, rooms.event_id, room_id)
        await registry.receive(sid, room_id, editor.notes.hello())
        await editor.pump()
        return editor

    async def pump(self) -> None:
        """Handle everything waiting in the inbox (and answer it)."""
        inbox = self.transport.inbox[self.sid]
        while inbox:
            for reply in self.notes.receive(inbox.pop(0)):
                await self.registry.receive(self.sid, self.room_id, reply)

    async def type(self, theme: str, text: str) -> None:
        section = self.notes.section(theme)
        section.insert(len(section), text)  # ASCII offsets: appending is safe whatever the text
        for message in self.notes.take_outbox():
            await self.registry.receive(self.sid, self.room_id, message)

    async def leave(self) -> None:
        await self.registry.leave(self.sid, self.room_id)


def registry_on(db: Database, bus: NotesBus | None = None, node: str = "nod-a",
                write_interval: float = 0.05) -> tuple[NotesRegistry, FakeTransport]:
    transport = FakeTransport()
    return NotesRegistry(db, transport, bus or LocalBus(), node, policy=NEVER,
                         write_interval=write_interval), transport


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The embedded default (SQLite file through aiosqlite) and PostgreSQL (TEST_DATABASE_URL).

    Migrated, not yet seeded: ``one_room`` seeds it (in the test's own event loop)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'traffpunkt.db'}"
    return str(request.getfixturevalue("clean_db"))


async def one_room(url: str) -> tuple[Rooms, int]:
    if url.startswith("sqlite"):
        await upgrade_async(url)
    await seed(url)
    rooms = await make_rooms(url, {"gotland": {"name": "Gotland", "regions": ["I"]}})
    return rooms, rooms.ids["gotland"]


WORDS = ["Först: Visby läser 📚. ", "Sedan: Slite åäö. ", "Sist: Fårö ÅÄÖ 🐑. "]


async def test_write_leave_write_leave_reopen_keeps_every_edit(database_url: str) -> None:
    rooms, room = await one_room(database_url)
    db = Database(database_url)
    try:
        registry, transport = registry_on(db)
        for n, word in enumerate(WORDS):
            editor = await Editor.join(registry, transport, f"sid-{n}", rooms, room)
            assert editor.notes.section("kris").to_py() == "".join(WORDS[:n])
            await editor.type("kris", word)
            await editor.leave()  # the last one leaves: the node compacts
            async with db.session() as s:
                left = await s.scalar(select(func.count()).where(NoteUpdate.room_id == room))
                assert await s.get(NoteSnapshot, room) is not None and left == 0
        await registry.stop()

        restarted, transport = registry_on(db)  # a restart: nothing in memory
        editor = await Editor.join(restarted, transport, "sid-x", rooms, room)
        assert editor.notes.section("kris").to_py() == "".join(WORDS)
        assert restarted.open_room(room).texts()["kris"] == "".join(WORDS)  # type: ignore[union-attr]
        async with db.session() as s:
            assert (await stored_texts(s, room, THEMES))["kris"] == "".join(WORDS)
        await restarted.stop()
    finally:
        await db.close()


async def test_a_compaction_deletes_only_the_rows_it_folded(database_url: str) -> None:
    """Appends that land between a compaction's load and its replace stay stored."""
    rooms, room = await one_room(database_url)
    db = Database(database_url)
    try:
        registry, transport = registry_on(db)
        editor = await Editor.join(registry, transport, "sid-1", rooms, room)
        await editor.type("utformning", "Rad ett. ")
        storage = registry.storage
        loaded = await storage.load(str(room))
        await editor.type("utformning", "Rad två, skriven under komprimeringen. ")
        await storage.flush()
        from rooms.notes import compact_updates

        history = ([loaded.snapshot] if loaded.snapshot else []) + loaded.updates
        assert await storage.replace_with_snapshot(str(room), compact_updates(history), loaded)
        stale = await storage.replace_with_snapshot(str(room), compact_updates(history), loaded)
        assert stale is False, "a second compaction of the same load loses the race"
        async with db.session() as s:
            texts = await stored_texts(s, room, THEMES)
        assert texts["utformning"] == "Rad ett. Rad två, skriven under komprimeringen. "
        await registry.stop()
    finally:
        await db.close()


async def test_a_theme_added_to_the_event_gets_one_section_in_open_and_stored_rooms(
    database_url: str,
) -> None:
    from server.platform.models import Theme

    rooms, room = await one_room(database_url)
    db = Database(database_url)
    try:
        registry, transport = registry_on(db)
        anna = await Editor.join(registry, transport, "anna", rooms, room)
        await anna.type("kris", "Skrivet före det nya temat. ")
        async with db.transaction() as s:
            s.add(Theme(event_id=rooms.event_id, key="digitalt", title="Digitalt 💻",
                        position=9))
        bo = await Editor.join(registry, transport, "bo", rooms, room)  # the room is open
        await anna.pump()
        for editor in (anna, bo):
            assert editor.notes.texts()["digitalt"] == ""
        await bo.type("digitalt", "Bo skriver i det nya temat, åäö.")
        await anna.pump()
        assert anna.notes.texts()["digitalt"] == "Bo skriver i det nya temat, åäö."
        await anna.leave()
        await bo.leave()
        await registry.stop()

        restarted, transport = registry_on(db)
        cecilia = await Editor.join(restarted, transport, "cecilia", rooms, room)
        assert cecilia.notes.texts() == {"utformning": "", "anvandning": "", "uppfoljning": "",
                                         "kris": "Skrivet före det nya temat. ",
                                         "digitalt": "Bo skriver i det nya temat, åäö."}
        async with db.session() as s:
            assert (await stored_texts(s, room, ["digitalt"]))["digitalt"].endswith("åäö.")
        await restarted.stop()
    finally:
        await db.close()


async def test_a_flooding_member_is_slowed_and_the_room_has_a_size_cap(clean_db: str) -> None:
    """Issue 19: 20 updates of 60 kB in a tenth of a second from one member are refused past
    their pace (`notes.rate_limited`), a room past its size is refused (`notes.room_full`), and
    the others' notes and edits lose nothing."""
    from rooms.notes import NotesLimits
    from server.platform.errors import DomainError

    rooms, room = await one_room(clean_db)
    db = Database(clean_db)
    try:
        transport = FakeTransport()
        limits = NotesLimits(max_document_bytes=400 * 1024)
        registry = NotesRegistry(db, transport, LocalBus(), "nod-a", policy=NEVER, limits=limits)
        calm = await Editor.join(registry, transport, "sid-calm", rooms, room)
        await calm.type("kris", "Lugnt och sansat. ")
        flood = await Editor.join(registry, transport, "sid-flood", rooms, room)
        codes = []
        for n in range(20):
            flood.notes.section("utformning").insert(0, f"{n:02d}" + "x" * 60_000)
            try:
                for message in flood.notes.take_outbox():
                    await registry.receive(flood.sid, room, message)
                codes.append("ok")
            except DomainError as refused:
                codes.append(refused.code)
        assert codes[:3] == ["ok"] * 3, codes
        assert "notes.rate_limited" in codes, "a burst past the pace is refused"
        await calm.pump()
        await calm.type("kris", "Fortfarande här.")
        opened = registry.open_room(room)
        assert opened is not None
        assert opened.texts()["kris"] == "Lugnt och sansat. Fortfarande här."

        await registry.stop()

        # Paced, but the room fills up: a registry whose pace lets big pastes through.
        roomy = NotesLimits(max_document_bytes=400 * 1024, bytes_per_second=10**7,
                            byte_burst=10**7)
        registry = NotesRegistry(db, transport, LocalBus(), "nod-a", policy=NEVER, limits=roomy)
        big = await Editor.join(registry, transport, "sid-big", rooms, room)
        refusals = []
        for _ in range(10):
            big.notes.section("anvandning").insert(0, "y" * 60_000)
            try:
                for message in big.notes.take_outbox():
                    await registry.receive(big.sid, room, message)
            except DomainError as refused:
                refusals.append(refused.code)
                break
        assert refusals == ["notes.room_full"]
        opened = registry.open_room(room)
        assert opened is not None and opened.size <= roomy.max_document_bytes
        assert opened.texts()["kris"] == "Lugnt och sansat. Fortfarande här."
        await registry.stop()
    finally:
        await db.close()
