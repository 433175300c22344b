"""A room's broadcasts leave in batches under load, and nobody misses a keystroke."""

from __future__ import annotations

import asyncio

from tests.conftest import LiveServer
from tests.integration.test_notes_support import (
    NotesPeer,
    make_rooms,
    participant,
    registration_id,
)

WORDS = ["Å", "ä", "ö", "🦌", " plan"]


async def test_fast_typists_in_one_room_converge_through_batches(
    demo_server: LiveServer, clean_db: str
) -> None:
    names = ("Anna Åkesson", "Bo Öberg", "Cia Ek")
    browsers = [await participant(demo_server.url, n, "M") for n in names]
    ids = [await registration_id(clean_db, n) for n in names]
    rooms = await make_rooms(clean_db, {"skane": {"name": "Skåne", "regions": ["M"],
                                                   "members": ids}})
    peers = [await NotesPeer.open(b, rooms.ids["skane"]) for b in browsers]
    try:
        async def typist(peer: NotesPeer, theme: str) -> None:
            for word in WORDS * 4:  # one update each, faster than the 40 ms window
                await peer.type(theme, word)

        await asyncio.gather(*(typist(p, t) for p, t in
                               zip(peers, ["kris", "uppfoljning", "utformning"], strict=True)))
        expected = "".join(WORDS * 4)
        for peer in peers:
            await peer.wait(lambda p=peer: all(  # type: ignore[misc]
                p.texts()[t] == expected for t in ("kris", "uppfoljning", "utformning")))
        assert all(p.texts() == peers[0].texts() for p in peers), "everyone holds the same notes"
        assert sum(p.batches for p in peers) > 0, "the server coalesced some broadcasts"
    finally:
        for peer in peers:
            await peer.close()
        for b in browsers:
            await b.close()
