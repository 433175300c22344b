"""Breakout rooms across two server processes and the real Redis: everyone moves together."""

from __future__ import annotations

from tests.conftest import MODERATOR
from tests.helpers import Browser


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
