"""Shared notes through a live `traffpunkt serve`: real socket.io clients, real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from docx import Document
from sqlalchemy import func, select

from server.notes.models import NoteSnapshot, NoteUpdate
from server.platform.db import Database
from tests.conftest import ARCHIVIST, MODERATOR, LiveServer, server_env
from tests.helpers import Browser
from tests.integration.test_notes_support import (
    SLUG,
    NotesPeer,
    export_json,
    make_rooms,
    participant,
    registration_id,
)

THEMES = ["utformning", "anvandning", "uppfoljning", "kris"]
SKANE = "Vi i Skåne läser 📚 och följer upp, åäö ÅÄÖ. "
LULEA = "Luleå: planen hjälpte i krisen 🦌👩‍👩‍👧 "


async def two_rooms(server: LiveServer, url: str):  # type: ignore[no-untyped-def]
    anna = await participant(server.url, "Anna Åkesson", "M")
    bo = await participant(server.url, "Bo Öberg", "M")
    cecilia = await participant(server.url, "Cecilia Lindström", "BD")
    names = ("Anna Åkesson", "Bo Öberg", "Cecilia Lindström")
    ids = {n: await registration_id(url, n) for n in names}
    rooms = await make_rooms(url, {
        "skane": {"name": "Skåne", "regions": ["M"], "members": [ids["Bo Öberg"]],
                  "facilitator": ids["Anna Åkesson"]},
        "norr": {"name": "Norrbotten", "regions": ["BD"], "members": [ids["Cecilia Lindström"]]},
    })
    return anna, bo, cecilia, rooms


async def test_members_write_together_and_the_notes_survive_a_restart(
    demo_server: LiveServer, clean_db: str, tmp_path: Path
) -> None:
    anna, bo, _, rooms = await two_rooms(demo_server, clean_db)
    room = rooms.ids["skane"]
    a, b = await NotesPeer.open(anna, room), await NotesPeer.open(bo, room)
    assert a.join_ack["writable"] and [t["key"] for t in a.join_ack["themes"]] == THEMES
    assert set(a.texts()) == set(THEMES), "the server made one section per theme"
    # Both type into the same theme before hearing of each other.
    a.notes.section("kris").insert(0, SKANE)
    b.notes.section("kris").insert(0, LULEA)
    await a.flush()
    await b.flush()
    await b.type("uppfoljning", "Örebro följer upp ❤️")
    await a.wait(lambda: a.texts() == b.texts() and "❤️" in a.texts()["uppfoljning"])
    assert a.texts()["kris"] in {SKANE + LULEA, LULEA + SKANE}
    before = a.texts()
    await a.close()
    await b.close()

    demo_server.stop()
    again = LiveServer(server_env(clean_db, tmp_path / "media")).start()
    try:
        bo.base_url = again.url  # the same browser, its session cookie, the restarted server
        bo.http.base_url = again.url
        c = await NotesPeer.open(bo, room)
        assert c.texts() == before, "after a restart the notes are exactly as they were"
        moderator = Browser(again.url)
        await moderator.login(*MODERATOR)
        exported = await export_json(moderator, room=room)
        assert {p["theme"]: p["text"] for p in exported["parts"]} == before
        await c.close()
        await moderator.close()
    finally:
        again.stop()
        for browser in (anna, bo):
            await browser.close()


async def test_another_rooms_member_is_refused_and_readers_cannot_write(
    demo_server: LiveServer, clean_db: str
) -> None:
    anna, bo, cecilia, rooms = await two_rooms(demo_server, clean_db)
    skane = rooms.ids["skane"]
    writer = await NotesPeer.open(anna, skane)  # the facilitator is a member
    await writer.type("utformning", "Bara för Skåne 🔒")
    outsider = await NotesPeer.open(cecilia, skane)
    assert outsider.join_ack == {"ok": False, "error": {
        "code": "room.not_member", "message": "Du är inte tilldelad det här rummet."}}
    sneaky = await outsider.sync(writer.notes.hello())
    assert sneaky["error"]["code"] == "notes.not_joined"
    assert outsider.texts() == {}, "nothing of the room reached the outsider"
    error = await outsider.client.wait_for("error", lambda e: e["event"] == "notes.join")
    assert error["code"] == "room.not_member"

    archivist = Browser(demo_server.url)
    await archivist.login(*ARCHIVIST)
    reader = await NotesPeer.open(archivist, skane)
    assert reader.join_ack["writable"] is False
    assert reader.texts()["utformning"] == "Bara för Skåne 🔒"
    reader.notes.section("utformning").insert(0, "Arkivet skriver ")
    refused = await reader.sync(reader.notes.take_outbox()[0])
    assert refused["error"]["code"] == "notes.read_only"
    assert (await export_json(archivist, room=skane))["parts"][0]["text"] == "Bara för Skåne 🔒"
    for peer in (writer, outsider, reader):
        await peer.close()
    for browser in (anna, bo, cecilia, archivist):
        await browser.close()


async def test_exports_carry_region_facilitator_and_swedish_text(
    demo_server: LiveServer, clean_db: str
) -> None:
    anna, bo, cecilia, rooms = await two_rooms(demo_server, clean_db)
    a = await NotesPeer.open(anna, rooms.ids["skane"])
    c = await NotesPeer.open(cecilia, rooms.ids["norr"])
    await a.type("kris", SKANE)
    await c.type("kris", LULEA)
    kb = Browser(demo_server.url)
    await kb.login(*MODERATOR)

    parts = (await export_json(kb, theme="kris"))["parts"]
    assert [(p["room"], p["region_names"], p["facilitator"], p["text"]) for p in parts] == [
        ("Skåne", ["Skåne"], "Anna Åkesson", SKANE),
        ("Norrbotten", ["Norrbotten"], None, LULEA),
    ]
    md = (await kb.http.get(f"/e/{SLUG}/notes/export", params={"theme": "kris", "format": "md"}))
    assert md.headers["content-type"].startswith("text/markdown")
    assert "## Skåne" in md.text and "Samtalsledare: Anna Åkesson" in md.text
    assert SKANE.strip() in md.text and LULEA.strip() in md.text
    docx = await kb.http.get(f"/e/{SLUG}/notes/export",
                             params={"room": rooms.ids["norr"], "format": "docx"})
    paragraphs = [p.text for p in Document(io.BytesIO(docx.content)).paragraphs]
    assert paragraphs[0] == "Norrbotten" and "Region: Norrbotten" in paragraphs[1]
    assert LULEA.strip() in paragraphs
    view = await kb.http.get(f"/e/{SLUG}/notes", params={"theme": "kris"})
    assert view.status_code == 200 and "Luleå: planen hjälpte i krisen 🦌" in view.text

    forbidden = await bo.http.get(f"/e/{SLUG}/notes/export", params={"theme": "kris"})
    assert forbidden.status_code in (401, 403)
    for peer in (a, c):
        await peer.close()
    for browser in (anna, bo, cecilia, kb):
        await browser.close()


async def test_every_update_is_stored_once_and_compaction_keeps_the_text(
    demo_server: LiveServer, clean_db: str
) -> None:
    anna, bo, _, rooms = await two_rooms(demo_server, clean_db)
    room = rooms.ids["skane"]
    a = await NotesPeer.open(anna, room)
    for char in "Hälsningar från Ystad 🌊":
        await a.type("anvandning", char)
    db = Database(clean_db)
    try:
        expected = 1 + len("Hälsningar från Ystad 🌊")  # genesis plus one row per keystroke
        for _ in range(100):  # appends are written behind, in batches (server/notes/service.py)
            async with db.session() as s:
                count = await s.scalar(select(func.count()).where(NoteUpdate.room_id == room))
            if count >= expected:
                break
            await asyncio.sleep(0.05)
        assert count == expected
        await a.close()  # the last peer leaves: the node compacts
        for _ in range(100):
            async with db.session() as s:
                snapshot = await s.get(NoteSnapshot, room)
                left = await s.scalar(select(func.count()).where(NoteUpdate.room_id == room))
            if snapshot is not None:
                break
            await asyncio.sleep(0.05)
        assert snapshot is not None and left == 0
        b = await NotesPeer.open(bo, room)
        assert b.texts()["anvandning"] == "Hälsningar från Ystad 🌊"
        await b.close()
    finally:
        await db.close()
        for browser in (anna, bo):
            await browser.close()


async def test_close_all_rooms_makes_the_notes_read_only_for_participants(
    demo_server: LiveServer, clean_db: str
) -> None:
    """Issue 19: after "close all rooms" the members read their room's notes but no longer
    write them, at once (seated editors too) and on joining again; moderators still write."""
    anna, bo, _cecilia, rooms = await two_rooms(demo_server, clean_db)
    skane = rooms.ids["skane"]
    mod = Browser(demo_server.url)
    await mod.login(*MODERATOR)
    moderator = await mod.connect(SLUG)
    facilitator = await NotesPeer.open(anna, skane)
    await facilitator.type("kris", "Före stängningen. ")
    closed = await moderator.call("breakout.close")
    assert closed["ok"], closed

    facilitator.notes.section("kris").insert(0, "Efteråt ")
    refused = await facilitator.sync(facilitator.notes.take_outbox()[0])
    assert refused["error"]["code"] == "notes.read_only", "a seated editor is frozen at once"
    member = await NotesPeer.open(bo, skane)
    assert member.join_ack["ok"] and member.join_ack["writable"] is False
    assert member.texts()["kris"] == "Före stängningen. ", "still readable"
    staff = await NotesPeer.open(mod, skane)
    assert staff.join_ack["writable"] is True
    await staff.type("kris", "Moderatorns tillägg.")
    await staff.wait(lambda: staff.texts()["kris"].endswith("tillägg."))
    texts = [p["text"] for p in (await export_json(mod, room=skane))["parts"]]
    assert "Före stängningen. Moderatorns tillägg." in texts
    for peer in (facilitator, member, staff):
        await peer.close()
    await moderator.close()
    for browser in (anna, bo, mod):
        await browser.close()
