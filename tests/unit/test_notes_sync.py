"""Shared notes: two or more real pycrdt editors synced through a NotesRoom."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Map, Text

import rooms.notes
from rooms.errors import RoomsError
from rooms.notes import NotesLimits, NotesRoom, build_genesis, build_section, merge_all
from rooms.notes_client import NotesClient
from rooms.notes_storage import NEVER, CompactionPolicy, MemoryNotesStorage, StoredNotes
from rooms.ysync import AwarenessEntry, awareness_message, parse_message, sync_update

THEMES = ["planer", "uppfoljning", "samverkan"]


class Hub:
    """In-process transport: delivers the room's outbound messages like socket.io would."""

    def __init__(self, room: NotesRoom) -> None:
        self.room = room
        self.clients: dict[str, NotesClient] = {}

    async def connect(self, peer: str) -> NotesClient:
        client = self.clients[peer] = NotesClient()
        await self.deliver(peer, self.room.join(peer))
        await self.send(peer, client.hello())
        return client

    async def send(self, peer: str, message: bytes) -> None:
        await self.deliver(peer, await self.room.handle(message, peer))

    async def deliver(self, sender: str, outbound: list[tuple[str, bytes]]) -> None:
        for target, data in outbound:
            peers = [sender] if target == "sender" else [p for p in self.clients if p != sender]
            for peer in peers:
                for reply in self.clients[peer].receive(data):
                    await self.send(peer, reply)

    async def flush(self) -> None:
        for peer, client in list(self.clients.items()):
            for message in client.take_outbox():
                await self.send(peer, message)


class YieldingStorage(MemoryNotesStorage):
    """Memory storage whose reads yield, like a database: lets two opens interleave."""

    async def load(self, room_id: str) -> StoredNotes:
        stored = await super().load(room_id)
        await asyncio.sleep(0)
        return stored


async def open_room(storage: MemoryNotesStorage | None = None, **kwargs: object) -> NotesRoom:
    return await NotesRoom.open("rum-1", THEMES, storage or MemoryNotesStorage(), **kwargs)  # type: ignore[arg-type]


async def test_a_newcomer_sees_the_server_sections_and_what_others_wrote() -> None:
    hub = Hub(await open_room())
    anna = await hub.connect("anna")
    anna.section("planer").insert(0, "Biblioteksplanen följs upp")
    await hub.flush()
    bo = await hub.connect("bo")
    assert bo.texts() == {"planer": "Biblioteksplanen följs upp", "uppfoljning": "",
                          "samverkan": ""}
    assert hub.room.texts() == bo.texts()


async def test_concurrent_swedish_and_emoji_edits_converge_everywhere() -> None:
    hub = Hub(await open_room())
    anna, bo = await hub.connect("anna"), await hub.connect("bo")
    anna.section("samverkan").insert(0, "Räksmörgås på Gotland 🦐 ")
    bo.section("samverkan").insert(0, "Över länsgränserna: Västerbotten ❤️‍🔥 ")
    anna.section("planer").insert(0, "åäö ÅÄÖ 👩‍👩‍👧")
    await hub.flush()
    text = hub.room.texts()["samverkan"]
    assert anna.texts() == bo.texts() == hub.room.texts()
    assert "Räksmörgås på Gotland 🦐 " in text and "Över länsgränserna: Västerbotten ❤️‍🔥 " in text
    assert hub.room.texts()["planer"] == "åäö ÅÄÖ 👩‍👩‍👧"


async def test_notes_survive_a_restart_and_compaction() -> None:
    storage = MemoryNotesStorage()
    hub = Hub(await open_room(storage, policy=CompactionPolicy(max_updates=5)))
    anna = await hub.connect("anna")
    for word in ["Skåne ", "Örebro ", "Jämtland Härjedalen ", "🎉 ", "Gävle ", "Luleå "]:
        anna.section("uppfoljning").insert(0, word)
        await hub.flush()
        await hub.room.compacted()  # the compaction the policy started beside the relay
    stored = await storage.load("rum-1")
    assert stored.snapshot is not None and stored.version >= 1, "the policy compacted"
    assert len(stored.updates) < 6
    before = hub.room.texts()
    restarted = await open_room(storage)
    assert restarted.texts() == before
    assert "Jämtland Härjedalen " in before["uppfoljning"]
    late = await Hub(restarted).connect("cecilia")
    assert late.texts() == before


async def test_compaction_stores_less_than_the_log_and_keeps_the_text() -> None:
    storage = MemoryNotesStorage()
    hub = Hub(await open_room(storage, policy=CompactionPolicy(max_updates=10_000)))
    anna = await hub.connect("anna")
    section = anna.section("planer")
    for i in range(100):
        section.insert(0, "ab")  # ASCII: pycrdt offsets are UTF-8 bytes, see DESIGN.md
        if i % 2:
            del section[0:2]
        await hub.flush()
    logged = storage.stored_bytes("rum-1")
    await hub.room.compact()
    assert storage.stored_bytes("rum-1") < logged
    assert (await open_room(storage)).texts() == hub.room.texts()


async def test_two_nodes_opening_the_same_room_at_once_lose_nothing() -> None:
    storage = YieldingStorage()
    node_a, node_b = await asyncio.gather(open_room(storage), open_room(storage))
    assert len((await storage.load("rum-1")).updates) == 2  # both nodes stored a genesis
    hub_a, hub_b = Hub(node_a), Hub(node_b)
    anna, bo = await hub_a.connect("anna"), await hub_b.connect("bo")
    anna.section("planer").insert(0, "från nod A ")
    bo.section("planer").insert(0, "från nod B ")
    for hub, peer, other in [(hub_a, "anna", node_b), (hub_b, "bo", node_a)]:
        for message in hub.clients[peer].take_outbox():
            await hub.send(peer, message)
            other.apply_update(parse_message(message).payload)  # what Redis would carry
    assert node_a.texts() == node_b.texts()
    assert "från nod A " in node_a.texts()["planer"]
    assert "från nod B " in node_a.texts()["planer"]
    assert (await open_room(storage)).texts() == node_a.texts()


async def test_two_nodes_opening_a_new_room_with_different_theme_lists_lose_nothing() -> None:
    """A theme added to the event while two nodes open a new room: one sees it, one not yet."""
    storage = YieldingStorage()
    node_a, node_b = await asyncio.gather(
        NotesRoom.open("rum-1", THEMES, storage),
        NotesRoom.open("rum-1", [*THEMES, "kris"], storage))
    hub_a, hub_b = Hub(node_a), Hub(node_b)
    anna, bo = await hub_a.connect("anna"), await hub_b.connect("bo")
    anna.section("samverkan").insert(0, "Anna på nod A, åäö ")
    bo.section("samverkan").insert(0, "Bo på nod B ")
    bo.section("kris").insert(0, "Krisberedskap")
    for hub, peer, other in [(hub_a, "anna", node_b), (hub_b, "bo", node_a)]:
        for message in hub.clients[peer].take_outbox():
            await hub.send(peer, message)
            other.apply_update(parse_message(message).payload)  # what Redis would carry
    reopened = await NotesRoom.open("rum-1", [*THEMES, "kris"], storage)
    for node in (node_b, reopened):
        texts = node.texts()
        assert "Anna på nod A, åäö " in texts["samverkan"]
        assert "Bo på nod B " in texts["samverkan"]
        assert texts["kris"] == "Krisberedskap"
    assert node_a.texts()["samverkan"] == node_b.texts()["samverkan"]


def test_genesis_is_byte_identical_whatever_the_theme_order() -> None:
    assert build_genesis(["b", "a", "c"]) == build_genesis(["c", "b", "a"])


async def test_a_client_cannot_replace_a_theme_section() -> None:
    hub = Hub(await open_room())
    anna = await hub.connect("anna")
    anna.section("planer").insert(0, "viktigt")
    await hub.flush()
    anna.doc.get("themes", type=Map)["planer"] = Text("kapat")
    before = hub.room.snapshot()
    with pytest.raises(RoomsError) as caught:
        await hub.flush()
    assert caught.value.code == "notes.forbidden_change"
    assert hub.room.snapshot() == before
    assert hub.room.texts()["planer"] == "viktigt"


async def test_refused_update_is_not_stored_and_the_room_keeps_working() -> None:
    storage = MemoryNotesStorage()
    hub = Hub(await open_room(storage))
    anna = await hub.connect("anna")
    stored = storage.stored_bytes("rum-1")
    with pytest.raises(RoomsError) as caught:
        await hub.room.handle(sync_update(b"\x01\x05garbage"), "anna")
    assert caught.value.code == "notes.rejected"
    assert storage.stored_bytes("rum-1") == stored
    anna.section("planer").insert(0, "ändå")
    await hub.flush()
    assert hub.room.texts()["planer"] == "ändå"


async def test_oversized_message_is_refused() -> None:
    room = await open_room(limits=NotesLimits(max_message_bytes=1024))
    editor: Doc[Map[Text]] = Doc()
    editor["big"] = Text("x" * 2000)
    with pytest.raises(RoomsError) as caught:
        await room.handle(sync_update(editor.get_update()), "anna")
    assert caught.value.code == "notes.too_large"


async def test_cursors_are_relayed_shown_to_newcomers_cleared_on_leave_never_stored() -> None:
    storage = MemoryNotesStorage()
    room = await open_room(storage)
    stored = storage.stored_bytes("rum-1")
    hello = awareness_message([AwarenessEntry(42, 1, '{"user":{"name":"Åsa"}}')])
    assert await room.handle(hello, "asa") == [("others", hello)]
    greeting = room.join("bo")
    assert ("sender", hello) in greeting
    [(target, gone)] = room.leave("asa")
    assert target == "others"
    assert gone == awareness_message([AwarenessEntry(42, 2, "null")])
    assert room.join("cecilia") == greeting[:1]
    assert storage.stored_bytes("rum-1") == stored


async def test_one_peer_cannot_flood_awareness_with_client_ids() -> None:
    room = await open_room()
    entries = [AwarenessEntry(i, 1, "{}") for i in range(10)]
    with pytest.raises(RoomsError) as caught:
        await room.handle(awareness_message(entries), "anna")
    assert caught.value.code == "notes.awareness_invalid"


class GatedStorage(MemoryNotesStorage):
    """Memory storage whose compaction waits at a gate after loading (a slow database)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = asyncio.Event()
        self.gate = asyncio.Event()

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        self.loaded.set()
        await self.gate.wait()
        return await super().replace_with_snapshot(room_id, snapshot, loaded)


class FailingStorage(MemoryNotesStorage):
    """Memory storage whose next ``failures`` compactions raise."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures

    async def replace_with_snapshot(
        self, room_id: str, snapshot: bytes, loaded: StoredNotes
    ) -> bool:
        if self.failures:
            self.failures -= 1
            raise OSError("database away")
        return await super().replace_with_snapshot(room_id, snapshot, loaded)


async def test_edits_made_while_a_compaction_runs_are_kept() -> None:
    storage = GatedStorage()
    hub = Hub(await open_room(storage, policy=NEVER))
    anna = await hub.connect("anna")
    for word in ("Kalmar ", "Växjö "):
        anna.section("planer").insert(0, word)
        await hub.flush()
    compaction = asyncio.create_task(hub.room.compact())
    await storage.loaded.wait()  # loaded, folded, about to replace: now more edits arrive
    for word in ("Visby 🐑 ", "Ölands ", "Åhus "):
        anna.section("planer").insert(0, word)
        await hub.flush()
    storage.gate.set()
    assert await compaction
    stored = await storage.load("rum-1")
    assert stored.snapshot is not None and len(stored.updates) == 3, "only folded rows went"
    again = await open_room(storage)
    assert again.texts() == hub.room.texts()
    assert again.texts()["planer"] == "Åhus Ölands Visby 🐑 Växjö Kalmar "


async def test_write_close_write_close_reopen_keeps_everything_when_keys_are_reused() -> None:
    """SQLite reuses the ids of deleted rows; nothing may depend on them growing."""
    storage = MemoryNotesStorage()
    for word in ("Först från Umeå. ", "Sedan från Malmö 🌉. ", "Sist från Kiruna. "):
        hub = Hub(await open_room(storage, policy=NEVER))
        anna = await hub.connect("anna")
        anna.section("samverkan").insert(len(anna.section("samverkan")), word)
        await hub.flush()
        await hub.room.close()  # the last one leaves: compacted
        assert not (await storage.load("rum-1")).updates
    assert (await open_room(storage)).texts()["samverkan"] == (
        "Först från Umeå. Sedan från Malmö 🌉. Sist från Kiruna. ")


async def test_a_failed_compaction_counts_again_and_close_folds_it() -> None:
    storage = FailingStorage(failures=1)
    errors: list[tuple[str, BaseException]] = []
    room = await NotesRoom.open("rum-1", THEMES, storage,
                                policy=CompactionPolicy(max_updates=3),
                                on_error=lambda where, exc: errors.append((where, exc)))
    hub = Hub(room)
    anna = await hub.connect("anna")
    for word in ("Ett ", "två ", "tre "):
        anna.section("planer").insert(0, word)
        await hub.flush()
    await room.compacted()
    assert [type(exc) for _, exc in errors] == [OSError], "logged through the room's hook"
    assert (await storage.load("rum-1")).snapshot is None
    await room.close()  # the failed compaction's updates still count: close folds them
    stored = await storage.load("rum-1")
    assert stored.snapshot is not None and not stored.updates


class PanicException(BaseException):
    """Stands in for pycrdt's: a BaseException, not an Exception."""


async def test_a_pycrdt_panic_in_a_background_compaction_goes_to_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    errors: list[BaseException] = []
    room = await NotesRoom.open("rum-1", THEMES, MemoryNotesStorage(),
                                policy=CompactionPolicy(max_updates=1),
                                on_error=lambda where, exc: errors.append(exc))

    def panic(updates: object) -> bytes:
        raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(rooms.notes, "compact_updates", panic)
    hub = Hub(room)
    anna = await hub.connect("anna")
    anna.section("planer").insert(0, "Borås")
    await hub.flush()
    task = room._compacting
    assert task is not None
    await room.compacted()
    assert task.exception() is None, "nothing escapes the background task"
    assert [type(e) for e in errors] == [PanicException]
    assert room.texts()["planer"] == "Borås"


async def test_a_theme_added_later_gets_its_section_once_on_every_node() -> None:
    storage = YieldingStorage()
    hub = Hub(await open_room(storage))
    anna = await hub.connect("anna")
    anna.section("planer").insert(0, "Före det nya temat, åäö")
    await hub.flush()
    await hub.room.close()

    themes = [*THEMES, "kris"]
    node_a, node_b = await asyncio.gather(
        NotesRoom.open("rum-1", themes, storage), NotesRoom.open("rum-1", themes, storage))
    assert node_a.snapshot() == node_b.snapshot(), "the same section bytes on both nodes"
    assert node_a.texts() == {"planer": "Före det nya temat, åäö", "uppfoljning": "",
                              "samverkan": "", "kris": ""}
    hub_a, hub_b = Hub(node_a), Hub(node_b)
    bo, cecilia = await hub_a.connect("bo"), await hub_b.connect("cecilia")
    bo.section("kris").insert(0, "Från A ")
    cecilia.section("kris").insert(0, "Från B ")
    for hub_, peer, other in [(hub_a, "bo", node_b), (hub_b, "cecilia", node_a)]:
        for message in hub_.clients[peer].take_outbox():
            await hub_.send(peer, message)
            other.apply_update(parse_message(message).payload)
    assert node_a.texts() == node_b.texts()
    assert "Från A " in node_a.texts()["kris"] and "Från B " in node_a.texts()["kris"]
    reopened = await NotesRoom.open("rum-1", themes, storage)
    assert reopened.texts() == node_a.texts()


async def test_an_open_room_adds_a_new_theme_and_other_nodes_accept_only_new_sections() -> None:
    room = await open_room()
    other = await open_room(MemoryNotesStorage())
    other.apply_update(room.snapshot())
    out = await room.add_sections([*THEMES, "kris"])
    assert [target for target, _ in out] == ["others"]
    other.apply_update(parse_message(out[0][1]).payload)  # a section from another node: fine
    sections: Doc[Map[Text]] = Doc()
    sections.apply_update(other.snapshot())
    assert "kris" in sections.get("themes", type=Map)
    assert await room.add_sections([*THEMES, "kris"]) == []
    assert build_section("kris") == build_section("kris")
    thief: Doc[Map[Text]] = Doc()
    thief.apply_update(other.snapshot())
    thief.get("themes", type=Map)["kris"] = Text("kapad")
    with pytest.raises(RoomsError) as caught:
        other.apply_update(thief.get_update(other.state_vector()))
    assert caught.value.code == "notes.forbidden_change", "replacing a section stays refused"


def test_merging_many_updates_as_a_tree_equals_one_merge() -> None:
    client = NotesClient()
    client.receive(sync_update(build_genesis(THEMES)))
    updates = [build_genesis(THEMES)]
    for i in range(300):
        client.section(THEMES[i % 3]).insert(0, "åb"[i % 2])
        updates += [parse_message(m).payload for m in client.take_outbox()]
    one: Doc[Map[Text]] = Doc()
    one.apply_update(merge_all(updates))
    assert {k: str(v) for k, v in one.get("themes", type=Map).items()} == client.texts()
