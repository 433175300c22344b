"""Two nodes' notes registries on the real Redis and PostgreSQL: catching up after a race.

The bus is fire-and-forget: node B drops updates for a room it does not hold open, and hears
nothing while it resubscribes. Node A writes its updates behind (here: not before the test
says so, a delay on flush), so B cannot load them from the database either. B must ask.

Both registries run in this process, each with its own ``RedisNotesBus`` on a channel of this
test's own (other test runs share the Redis server, and pub/sub spans its databases).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from server.notes.models import NoteUpdate
from server.notes.service import NotesRegistry, RedisNotesBus, stored_texts
from server.platform.db import Database
from tests.conftest import REDIS_URL
from tests.integration.test_notes_storage import Editor, FakeTransport, one_room, registry_on

HOLD = 3600.0
"""Node A's write-behind interval: nothing reaches the database until the test flushes."""


class Nodes:
    def __init__(self, db: Database, channel: str) -> None:
        self.db, self.channel = db, channel
        self.started: list[NotesRegistry] = []

    async def node(self, name: str, write_interval: float = 0.05) -> tuple[
            NotesRegistry, FakeTransport, RedisNotesBus]:
        bus = RedisNotesBus(REDIS_URL, name, self.channel)
        registry, transport = registry_on(self.db, bus, name, write_interval)
        await registry.start()
        self.started.append(registry)
        return registry, transport, bus


@pytest.fixture
async def nodes(clean_db: str) -> AsyncIterator[Nodes]:
    db = Database(clean_db)
    pair = Nodes(db, f"tp:notes:test:{secrets.token_hex(4)}")
    yield pair
    for registry in pair.started:
        await registry.stop()
    await db.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "did not happen in time"
        await asyncio.sleep(0.02)


def text_on(registry: NotesRegistry, room: int, theme: str) -> str:
    opened = registry.open_room(room)
    return opened.texts().get(theme, "") if opened else ""


async def test_a_node_opening_a_room_gets_what_another_node_has_not_written_yet(
    nodes: Nodes, clean_db: str
) -> None:
    rooms, room = await one_room(clean_db)
    node_a, transport_a, _ = await nodes.node("nod-a", write_interval=HOLD)
    node_b, transport_b, _ = await nodes.node("nod-b")

    anna = await Editor.join(node_a, transport_a, "anna", rooms, room)
    await anna.type("kris", "Öland först 🌅. ")  # buffered on A; B drops it (room not open)
    await asyncio.sleep(0.2)  # B drops what it hears: nothing to await but the bus's latency
    bo = await Editor.join(node_b, transport_b, "bo", rooms, room)
    await until(lambda: text_on(node_b, room, "kris") == "Öland först 🌅. ")
    await until(lambda: bool(transport_b.inbox["bo"]))
    await bo.pump()
    assert bo.notes.section("kris").to_py() == "Öland först 🌅. ", "B told its own editors"

    # The same Yjs client goes on typing: B applies each update at once, none stays pending.
    await anna.type("kris", "Sedan Gotland. ")
    await until(lambda: text_on(node_b, room, "kris") == "Öland först 🌅. Sedan Gotland. ")
    await until(lambda: bool(transport_b.inbox["bo"]))
    await bo.pump()
    await bo.type("kris", "Och Bo på nod B.")
    whole = "Öland först 🌅. Sedan Gotland. Och Bo på nod B."
    await until(lambda: text_on(node_a, room, "kris") == whole)

    await node_a.storage.flush()
    await node_b.storage.flush()
    async with nodes.db.session() as s:
        rows = await s.scalar(select(func.count()).where(NoteUpdate.room_id == room))
    # Each node's genesis; A's two updates stored by A and by B (which applied them), B's one
    # by B and A: what a node applied survives it (the next compaction folds the duplicates).
    assert rows == 2 + 2 * 2 + 1 * 2


async def test_an_update_survives_the_node_that_accepted_it_dying_before_writing_it(
    nodes: Nodes, clean_db: str
) -> None:
    """bench/rehearsal.py: a web node SIGKILLed with updates in its write-behind buffer; the
    editors reconnected to the other node, whose document already had them (relayed), so no
    editor sent them again and they were never stored. The node that applied them stores
    them too."""
    rooms, room = await one_room(clean_db)
    node_a, transport_a, _ = await nodes.node("nod-a", write_interval=HOLD)
    node_b, transport_b, _ = await nodes.node("nod-b")
    anna = await Editor.join(node_a, transport_a, "anna", rooms, room)
    bo = await Editor.join(node_b, transport_b, "bo", rooms, room)
    await node_a.storage.flush()  # the room's genesis is stored

    async def killed_before_writing(batch: list[tuple[str, bytes]]) -> None:
        return None  # A is SIGKILLed: what it buffers never reaches the database

    node_a.storage._inner.append_many = killed_before_writing  # type: ignore[method-assign]
    await anna.type("kris", "Skrivet på nod A, som dör. ")
    await until(lambda: text_on(node_b, room, "kris") == "Skrivet på nod A, som dör. ")
    await node_b.storage.flush()
    async with nodes.db.session() as s:  # what a node opening the room loads
        texts = await stored_texts(s, room, ["kris"])
    assert texts["kris"] == "Skrivet på nod A, som dör. "
    del bo


async def test_after_a_bus_reconnect_a_node_asks_for_what_it_missed(
    nodes: Nodes, clean_db: str
) -> None:
    rooms, room = await one_room(clean_db)
    node_a, transport_a, _ = await nodes.node("nod-a", write_interval=HOLD)
    name_b = f"nod-b-{secrets.token_hex(3)}"
    node_b, transport_b, bus_b = await nodes.node(name_b)
    anna = await Editor.join(node_a, transport_a, "anna", rooms, room)
    bo = await Editor.join(node_b, transport_b, "bo", rooms, room)
    await anna.type("anvandning", "Före avbrottet. ")
    await until(lambda: text_on(node_b, room, "anvandning") == "Före avbrottet. ")

    # Cut node B's Redis connections (only B's: they carry its name) and write meanwhile.
    r = redis.from_url(REDIS_URL)
    try:
        subscriptions = bus_b.subscriptions
        for line in (await r.execute_command("CLIENT", "LIST")).decode().splitlines():
            fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
            if fields.get("name") == f"tp-notes-{name_b}":
                await r.execute_command("CLIENT", "KILL", "ID", fields["id"])
        await anna.type("anvandning", "Under avbrottet åäö. ")
        await until(lambda: bus_b.subscriptions > subscriptions)
    finally:
        await r.aclose()
    await until(lambda: text_on(node_b, room, "anvandning")
                == "Före avbrottet. Under avbrottet åäö. ")
    await anna.type("anvandning", "Efter.")
    await until(lambda: text_on(node_b, room, "anvandning").endswith("Efter."))
    await bo.pump()
    assert bo.notes.section("anvandning").to_py() == "Före avbrottet. Under avbrottet åäö. Efter."
