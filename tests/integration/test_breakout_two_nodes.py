"""Breakout rooms across two server processes and the real Redis: everyone moves together,
someone moved by a moderator on one node stops hearing the old room on the other, and people
whose sockets are on different nodes meet in one room's media."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from server.platform.keys import room_media_host_key
from streaming.room_peer import RoomPeer
from tests.conftest import MODERATOR, REDIS_URL, LiveServer, seed, server_env
from tests.helpers import Browser
from tests.integration.test_notes_support import NotesPeer
from tests.integration.test_room_media_sockets import _exchange, _slots

pytestmark = pytest.mark.slow  # server processes


async def test_participants_on_both_nodes_move_chat_and_return_together(two_nodes) -> None:
    a, b = two_nodes
    mod = Browser(a.url)
    await mod.login(*MODERATOR)
    people = [(a, "Åsa Öberg", "M"), (b, "Per Andersson", "M"), (b, "Anna Lundström", "BD")]
    browsers = [Browser(node.url) for node, _, _ in people]
    for browser, (_, name, region) in zip(browsers, people, strict=True):
        await browser.register(name=name, region=region)
    moderator = await mod.connect()
    clients = [await browser.connect() for browser in browsers]
    try:
        opened = await moderator.call("breakout.open", {"grouping": {"strategy": "by_region"}})
        rooms = {r["name"]: r["id"] for r in opened["rooms"]}
        got = [await c.wait_for("breakout.assigned") for c in clients]
        assert [g["room"]["name"] for g in got] == ["Skåne", "Skåne", "Norrbotten"]

        asa, per, anna = clients
        await asa.call("room.enter", {"room_id": rooms["Skåne"]})
        await per.call("room.enter", {"room_id": rooms["Skåne"]})
        await anna.call("room.enter", {"room_id": rooms["Norrbotten"]})
        seen = await asa.wait_for("room.participants", lambda d: len(d["people"]) == 2)
        assert {p["name"] for p in seen["people"]} == {"Åsa Öberg", "Per Andersson"}
        await per.call("chat.send", {"room_id": rooms["Skåne"], "text": "Hej från nod B"})
        assert (await asa.wait_for("chat.message"))["text"] == "Hej från nod B"
        assert not [e for e, _ in anna.events if e == "chat.message"]

        await moderator.call("breakout.broadcast", {"text": "Två minuter kvar"})
        for c in clients:
            assert (await c.wait_for("breakout.broadcast"))["text"] == "Två minuter kvar"
        await moderator.call("breakout.close")
        for c in clients:
            await c.wait_for("breakout.closed")
        after = await per.call("chat.history", {"room_id": rooms["Skåne"]})
        assert [m["text"] for m in after["messages"]] == ["Hej från nod B"]
    finally:
        for c in (moderator, *clients):
            await c.close()
        for browser in (mod, *browsers):
            await browser.close()


async def test_a_participant_moved_from_another_node_no_longer_hears_the_old_room(
    two_nodes,
) -> None:
    """Per's socket and media are on node B; the moderator on node A moves him out of Skåne.
    Node B must unseat his notes, hang up his media and take him out of the room's events."""
    a, b = two_nodes
    mod = Browser(a.url)
    await mod.login(*MODERATOR)
    browsers = [Browser(a.url), Browser(b.url), Browser(b.url)]
    for browser, (name, region) in zip(
        browsers, (("Åsa Öberg", "M"), ("Per Andersson", "M"), ("Anna Lundström", "BD")),
        strict=True,
    ):
        await browser.register(name=name, region=region)
    moderator = await mod.connect()
    asa, per, anna = [await browser.connect() for browser in browsers]
    peer: RoomPeer | None = None
    try:
        opened = await moderator.call("breakout.open", {"grouping": {"strategy": "by_region"}})
        rooms = {r["name"]: r["id"] for r in opened["rooms"]}
        skane, norr = rooms["Skåne"], rooms["Norrbotten"]
        for client, room in ((asa, skane), (per, skane), (anna, norr)):
            assert (await client.call("room.enter", {"room_id": room}))["ok"]
        asa_notes, per_notes = NotesPeer(asa, skane), NotesPeer(per, skane)
        per_notes_heard: list[dict[str, Any]] = []

        async def per_hears_notes(data: dict[str, Any]) -> None:
            per_notes_heard.append(data)
            await per_notes._on_sync(data)

        per.sio.on("notes.sync", per_hears_notes)
        for notes in (asa_notes, per_notes):
            assert (await notes.client.call("notes.join", {"room_id": skane}))["ok"]
            await notes.sync(notes.notes.hello())
            await notes.wait(lambda n=notes: bool(n.texts()))
        for client in (asa, per):
            assert (await client.call("room_media.join", {"room_id": skane}))["ok"]
        peer = RoomPeer()
        await peer.negotiate(_exchange(per, skane))
        await _until(lambda: peer is not None and peer.pc.connectionState == "connected")
        await asa_notes.type("kris", "Före flytten. ")
        await per_notes.wait(lambda: "Före flytten" in per_notes.texts()["kris"])

        per_id = next(m["id"] for r in (await moderator.call("breakout.state"))["rooms"]
                      for m in r["members"] if m["name"] == "Per Andersson")
        moved = await moderator.call("breakout.move", {"registration_id": per_id, "room_id": norr})
        assert moved["ok"], moved
        await per.wait_for("breakout.assigned", lambda d: d["room"]["id"] == norr)
        closed = await per.wait_for("room_media.closed", lambda d: d["room_id"] == skane)
        assert closed["reason"] == "evicted", "node B hung up Per's media in Skåne"
        await _until(lambda: peer is not None and peer.pc.connectionState in ("closed", "failed"))
        await asyncio.sleep(0.5)  # let every node's bus message land before the room talks
        heard_before, notes_before = len(per.events), len(per_notes_heard)

        # The old room goes on: chat, notes and media flags. Per hears none of it.
        await asa.call("chat.send", {"room_id": skane, "text": "Efter flytten"})
        await asa.wait_for("chat.message", lambda d: d["text"] == "Efter flytten")
        await asa_notes.type("kris", "Efter flytten. ")
        await asa.call("room_media.state", {"room_id": skane, "audio": False, "video": True})
        await asa.wait_for("room_media.participants", lambda d: d["room_id"] == skane and any(
            not p["audio"] for p in d["participants"]))
        await asa.call("room.hand", {"room_id": skane, "raised": True})
        # That Per hears nothing cannot be awaited: give what would reach him time to arrive.
        await asyncio.sleep(1.5)
        late = [(e, d) for e, d in per.events[heard_before:]
                if isinstance(d, dict) and d.get("room_id") == skane]
        assert late == [], f"Per still hears Skåne: {late}"
        assert [d for d in per_notes_heard[notes_before:] if d["room_id"] == skane] == []
        assert "Efter flytten" not in per_notes.texts()["kris"]

        # Whatever Per asks of Skåne now is refused, on his own node.
        refused = {
            "room.hand": await per.call("room.hand", {"room_id": skane, "raised": True}),
            "room.enter": await per.call("room.enter", {"room_id": skane}),
            "chat.send": await per.call("chat.send", {"room_id": skane, "text": "Hallå?"}),
            "chat.history": await per.call("chat.history", {"room_id": skane}),
            "notes.sync": await per_notes.sync(per_notes.notes.hello()),
            "notes.join": await per.call("notes.join", {"room_id": skane}),
            "room_media.join": await per.call("room_media.join", {"room_id": skane}),
            "room_media.offer": await per.call(
                "room_media.offer", {"room_id": skane, "sdp": "v=0\r\n"}),
            "room_media.state": await per.call(
                "room_media.state", {"room_id": skane, "audio": True, "video": True}),
        }
        codes = {event: answer.get("error", {}).get("code") for event, answer in refused.items()}
        assert codes == {
            "room.hand": "room.not_entered", "room.enter": "room.not_member",
            "chat.send": "room.not_member", "chat.history": "room.not_member",
            "notes.sync": "notes.not_joined", "notes.join": "room.not_member",
            "room_media.join": "room.not_member", "room_media.offer": "room.not_member",
            "room_media.state": "room_media.not_joined",
        }
        people = await asa.wait_for("room.participants", lambda d: d["room_id"] == skane
                                    and any(p["hand"] for p in d["people"]))
        assert [p["name"] for p in people["people"]] == ["Åsa Öberg"], "nobody put Per back"
        assert (await per.call("room.enter", {"room_id": norr}))["ok"], "his new room is open"
    finally:
        if peer is not None:
            await peer.close()
        for c in (moderator, asa, per, anna):
            await c.close()
        for browser in (mod, *browsers):
            await browser.close()


async def _until(predicate: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_a_web_node_passes_room_media_to_the_media_node_and_both_sides_meet(
    clean_db: str, tmp_path: Path
) -> None:
    """Åsa's socket is on a `--no-media` web node, Per's on the node with the media engine: the
    room is hosted there, Åsa's join and offer travel to it, and each receives the other's
    frames. When Åsa's socket goes, the host hangs her up."""
    r = redis.from_url(REDIS_URL, decode_responses=True)
    await r.flushdb()
    await seed(clean_db)
    env = server_env(clean_db, tmp_path / "media", REDIS_URL)
    web = LiveServer({**env, "NODE_ROLE": "web", "NODE_ID": "webb-1"}).spawn()
    media = LiveServer({**env, "NODE_ID": "media-1"}).spawn().wait()
    web.wait()
    mod, b_asa, b_per = Browser(media.url), Browser(web.url), Browser(media.url)
    peers: list[RoomPeer] = []
    await mod.login(*MODERATOR)
    await b_asa.register(name="Åsa Öberg", region="M")
    await b_per.register(name="Per Andersson", region="M")
    moderator, asa, per = await mod.connect(), await b_asa.connect(), await b_per.connect()
    try:
        opened = await moderator.call("breakout.open", {"grouping": {"strategy": "by_region"}})
        skane = next(room["id"] for room in opened["rooms"] if room["name"] == "Skåne")
        keys = []
        for client in (asa, per):
            assert (await client.call("room.enter", {"room_id": skane}))["ok"]
            joined = await client.call("room_media.join", {"room_id": skane})
            assert joined["ok"], joined
            keys.append(joined["me"])
        assert await r.get(room_media_host_key(skane)) == "media-1", "web nodes never host"
        for client in (asa, per):
            peer = RoomPeer()
            peer.add_slots(1)
            await peer.negotiate(_exchange(client, skane))
            peers.append(peer)
        filled = await asa.wait_for(
            "room_media.slots", lambda d: any(s["publisher"] for s in d["slots"]))
        peers[0].set_slots(_slots(filled["slots"]))  # Per came after her: his slot is new
        await peers[0].wait_frames(keys[1], 5)
        await peers[1].wait_frames(keys[0], 5)

        assert (await asa.call(
            "room_media.state", {"room_id": skane, "audio": False, "video": True}))["ok"]
        await per.wait_for("room_media.participants", lambda d: any(
            p["key"] == keys[0] and not p["audio"] for p in d["participants"]))
        await asa.close()
        await per.wait_for("room_media.participants", lambda d: [
            p["key"] for p in d["participants"]] == [keys[1]])
        await _until(lambda: peers[0].pc.connectionState in ("closed", "failed"), 30)
    finally:
        for peer in peers:
            await peer.close()
        for c in (moderator, asa, per):
            await c.close()
        for browser in (mod, b_asa, b_per):
            await browser.close()
        web.stop()
        media.stop()
        await r.aclose()
