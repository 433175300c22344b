"""Shared notes on two server processes through the real Redis: editors on both converge, every
node's own document converges, and what every node applied is stored: by the node that received
it and by each node that applied it (bench/rehearsal.py lost updates when only the receiver
stored them and died first)."""

from __future__ import annotations

from sqlalchemy import select

from server.notes.models import NoteUpdate
from server.notes.service import stored_texts
from server.platform.db import Database
from tests.conftest import LiveServer
from tests.integration.test_notes_support import NotesPeer, make_rooms, participant, registration_id

NAMES = ("Anna Åkesson", "Bo Öberg", "Cecilia Ås")



async def test_editors_on_two_nodes_converge_and_every_node_stores_what_it_applied(
    two_nodes: tuple[LiveServer, LiveServer], clean_db: str
) -> None:
    a, b = two_nodes
    browsers = [await participant(a.url, name, "AC") for name in NAMES]
    members = [await registration_id(clean_db, name) for name in NAMES]
    plan = {"ac": {"name": "Västerbotten", "members": members}}
    room = (await make_rooms(clean_db, plan)).ids["ac"]
    anna = await NotesPeer.open(browsers[0], room)
    browsers[1].base_url = browsers[1].http.base_url = b.url  # type: ignore[assignment]
    bo = await NotesPeer.open(browsers[1], room)
    peers = [anna, bo]
    try:
        # Concurrent: both write before either hears the other, on different nodes.
        anna.notes.section("uppfoljning").insert(0, "Umeå mäter utlån 📈 ")
        bo.notes.section("uppfoljning").insert(0, "Skellefteå frågar läsarna ✍️ ")
        await anna.flush()
        await bo.flush()
        for word in ("Åsele ", "Vännäs ", "Örnsköldsvik 🌲"):
            await anna.type("kris", word)
            await bo.type("anvandning", word)
        await anna.wait(lambda: anna.texts() == bo.texts() and "🌲" in anna.texts()["anvandning"])
        await bo.wait(lambda: anna.texts() == bo.texts() and "🌲" in bo.texts()["kris"])

        # A newcomer on each node is greeted from that node's own document (rooms still open).
        for node, browser in ((a, browsers[2]), (b, browsers[2])):
            browser.base_url = browser.http.base_url = node.url  # type: ignore[assignment]
            fresh = await NotesPeer.open(browser, room)
            peers.append(fresh)
            await fresh.wait(lambda peer=fresh: peer.texts() == anna.texts())
        assert "Umeå mäter utlån 📈" in anna.texts()["uppfoljning"]
        assert "Skellefteå frågar läsarna ✍️" in anna.texts()["uppfoljning"]

        db = Database(clean_db)
        try:
            async with db.session() as s:
                rows = list(await s.scalars(select(NoteUpdate.data)
                                            .where(NoteUpdate.room_id == room)
                                            .order_by(NoteUpdate.id)))
        finally:
            await db.close()
        # Two nodes that open a new room at the same moment may each store its genesis (the
        # same bytes: sections have key-derived ids, so the two merge to one). Each update is
        # stored by the node that received it, and again by the other, which applied it (one
        # row, or a merged catch-up); what is stored is the whole converged document.
        geneses = [row for row in rows if row == rows[0]]
        assert len(geneses) in (1, 2), "at most one genesis per node"
        sent = sum(p.stored_sent for p in peers)
        assert sent <= len(rows) - len(geneses) <= 2 * sent
        db = Database(clean_db)
        try:
            async with db.session() as s:
                stored = await stored_texts(s, room, list(anna.texts()))
        finally:
            await db.close()
        assert stored == anna.texts()
    finally:
        for peer in peers:
            await peer.close()
        for browser in browsers:
            await browser.close()
