"""Breakout rooms on a real server: plan, open, land in the right room, only there, close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.conftest import MODERATOR
from tests.helpers import Browser, Client

BY_REGION = {"grouping": {"strategy": "by_region"}}


@dataclass
class Day:
    mod: Client
    skane: list[Client]
    norr: Client
    browsers: list[Browser]
    base: str


@pytest.fixture
async def day(demo_server) -> AsyncIterator[Day]:
    """A moderator, two participants from Skåne (M) and one from Norrbotten (BD), connected."""
    mod_b = Browser(demo_server.url)
    await mod_b.login(*MODERATOR)
    people = [("Åsa Öberg", "M"), ("Per Andersson", "M"), ("Anna Lundström", "BD")]
    browsers = [mod_b]
    clients = [await mod_b.connect()]
    for name, region in people:
        b = Browser(demo_server.url)
        await b.register(name=name, region=region)
        browsers.append(b)
        clients.append(await b.connect())
    yield Day(clients[0], clients[1:3], clients[3], browsers, demo_server.url)
    for c in clients:
        await c.close()
    for b in browsers:
        await b.close()


async def open_by_region(day: Day, **extra: object) -> dict:
    answer = await day.mod.call("breakout.open", {**BY_REGION, **extra})
    assert answer["ok"], answer
    return answer


async def test_preview_accounts_for_everyone_before_opening(day: Day) -> None:
    answer = await day.mod.call("breakout.preview", BY_REGION)
    preview = answer["preview"]
    rooms = {r["name"]: r["count"] for r in preview["rooms"]}
    assert rooms == {"Skåne": 2, "Norrbotten": 1}
    assert [(u["name"], u["reason"]) for u in preview["unplaced"]] == [("Moderator", "moderator")]
    assert preview["totals"] == {"people": 4, "placed": 3, "unplaced": 1}
    with_mods = await day.mod.call(
        "breakout.preview",
        {"grouping": {"strategy": "balanced", "room_count": 2, "include_moderators": True}},
    )
    assert with_mods["preview"]["unplaced"] == [], "moderator is placed when chosen"
    assert sum(r["staff"] for r in with_mods["preview"]["rooms"]) == 1


async def test_custom_and_balanced_groupings_and_facilitator(day: Day) -> None:
    custom = await day.mod.call(
        "breakout.preview",
        {
            "grouping": {
                "strategy": "custom",
                "groups": [{"name": "Syd och norr", "regions": ["M", "BD"]}],
            }
        },
    )
    assert [(r["name"], r["count"], r["regions"]) for r in custom["preview"]["rooms"]] == [
        ("Syd och norr", 3, ["M", "BD"])
    ]
    balanced = await day.mod.call(
        "breakout.preview",
        {"grouping": {"strategy": "balanced", "room_count": 2, "max_room_size": 2}},
    )
    assert sorted(r["count"] for r in balanced["preview"]["rooms"]) == [1, 2]
    preview = (await day.mod.call("breakout.preview", BY_REGION))["preview"]
    norr_id = int(
        next(
            m["id"] for r in preview["rooms"] for m in r["members"] if m["name"] == "Anna Lundström"
        )[1:]
    )
    with_fac = await day.mod.call("breakout.preview", {**BY_REGION, "facilitators": {"M": norr_id}})
    skane = next(r for r in with_fac["preview"]["rooms"] if r["key"] == "M")
    assert skane["facilitator"]["name"] == "Anna Lundström"
    assert skane["count"] == 3, "the facilitator is moved into the room"
    bad = await day.mod.call(
        "breakout.preview",
        {"grouping": {"strategy": "custom", "groups": [{"name": "A", "regions": ["XX"]}]}},
    )
    assert bad["ok"] is False and bad["error"]["code"] == "breakout.plan.unknown_region"


async def test_only_moderators_plan_and_open(day: Day) -> None:
    for event in ("breakout.preview", "breakout.open", "breakout.close", "breakout.templates"):
        answer = await day.norr.call(event, BY_REGION if event != "breakout.close" else {})
        assert answer["ok"] is False and answer["error"]["code"] == "auth.forbidden", event


async def test_open_moves_everyone_to_their_own_room_and_nowhere_else(day: Day) -> None:
    opened = await open_by_region(day, minutes=20)
    assert opened["assigned"] == 3
    rooms = {r["name"]: r["id"] for r in opened["rooms"]}
    for c in day.skane:
        got = await c.wait_for("breakout.assigned")
        assert got["room"]["name"] == "Skåne" and got["round"]["ends_at"]
    got = await day.norr.wait_for("breakout.assigned")
    assert got["room"]["id"] == rooms["Norrbotten"]

    refused = await day.norr.call("room.enter", {"room_id": rooms["Skåne"]})
    assert refused["error"]["code"] == "room.not_member"
    for event, payload in (
        ("chat.send", {"room_id": rooms["Skåne"], "text": "hej"}),
        ("chat.history", {"room_id": rooms["Skåne"]}),
    ):
        answer = await day.norr.call(event, payload)
        assert answer["error"]["code"] == "room.not_member", event

    a, b = day.skane
    first = await a.call("room.enter", {"room_id": rooms["Skåne"]})
    assert [p["name"] for p in first["people"]] == ["Åsa Öberg"]
    await b.call("room.enter", {"room_id": rooms["Skåne"]})
    seen = await a.wait_for("room.participants", lambda d: len(d["people"]) == 2)
    assert {p["name"] for p in seen["people"]} == {"Åsa Öberg", "Per Andersson"}
    await day.norr.call("room.enter", {"room_id": rooms["Norrbotten"]})

    sent = await a.call("chat.send", {"room_id": rooms["Skåne"], "text": "<b>Hej</b> Skåne!"})
    assert sent["ok"] and sent["message"]["text"] == "<b>Hej</b> Skåne!"
    got = await b.wait_for("chat.message")
    assert got["author"] == "Åsa Öberg"
    assert not [e for e, _ in day.norr.events if e == "chat.message"], "other rooms hear nothing"

    await b.call("room.hand", {"room_id": rooms["Skåne"], "raised": True})
    hands = await a.wait_for("room.participants", lambda d: any(p["hand"] for p in d["people"]))
    assert [p["name"] for p in hands["people"] if p["hand"]] == ["Per Andersson"]


async def test_chat_limits_and_history(day: Day) -> None:
    opened = await open_by_region(day)
    room = next(r["id"] for r in opened["rooms"] if r["name"] == "Skåne")
    a, b = day.skane
    too_long = await a.call("chat.send", {"room_id": room, "text": "x" * 1001})
    assert too_long["error"]["code"] == "chat.text_invalid"
    empty = await a.call("chat.send", {"room_id": room, "text": "   "})
    assert empty["error"]["code"] == "chat.text_invalid"
    codes = [
        (await a.call("chat.send", {"room_id": room, "text": f"nr {i}"}))
        .get("error", {})
        .get("code")
        for i in range(12)
    ]
    assert codes[:10] == [None] * 10 and "chat.rate_limited" in codes[10:]
    history = await b.call("chat.history", {"room_id": room})
    assert [m["text"] for m in history["messages"]] == [f"nr {i}" for i in range(10)]


async def test_timer_broadcast_close_and_rows_kept(day: Day) -> None:
    opened = await open_by_region(day, minutes=10)
    room = next(r["id"] for r in opened["rooms"] if r["name"] == "Skåne")
    a = day.skane[0]
    await a.call("room.enter", {"room_id": room})
    await a.call("chat.send", {"room_id": room, "text": "Vi pratar om planerna"})
    before = opened["round"]["ends_at"]
    extended = await day.mod.call("breakout.extend", {"minutes": 5})
    assert extended["round"]["ends_at"] > before
    timer = await day.norr.wait_for("breakout.timer")
    assert timer["round"]["ends_at"] == extended["round"]["ends_at"]
    await day.mod.call("breakout.broadcast", {"text": "Fem minuter kvar"})
    for c in (a, day.norr):
        assert (await c.wait_for("breakout.broadcast"))["text"] == "Fem minuter kvar"
    closed = await day.mod.call("breakout.close")
    assert closed["ok"] and closed["round"]["status"] == "closed"
    for c in (*day.skane, day.norr):
        await c.wait_for("breakout.closed")
    assert (await a.call("breakout.state"))["round"] is None
    history = await a.call("chat.history", {"room_id": room})
    assert [m["text"] for m in history["messages"]] == ["Vi pratar om planerna"]
    late = await a.call("chat.send", {"room_id": room, "text": "efteråt"})
    assert late["error"]["code"] == "chat.closed"
    again = await day.mod.call("breakout.close")
    assert again["error"]["code"] == "breakout.not_open"


async def test_reconnect_lands_in_the_same_room(day: Day) -> None:
    opened = await open_by_region(day)
    rooms = {r["name"]: r["id"] for r in opened["rooms"]}
    await day.norr.close()
    browser = day.browsers[3]
    again = await browser.connect()
    try:
        state = await again.call("breakout.state")
        assert state["round"]["status"] == "open"
        assert state["room"]["id"] == rooms["Norrbotten"]
        assert "rooms" not in state, "participants do not see other rooms"
    finally:
        await again.close()


async def test_moderator_moves_visits_and_leaves(day: Day) -> None:
    opened = await open_by_region(day)
    rooms = {r["name"]: r["id"] for r in opened["rooms"]}
    state = await day.mod.call("breakout.state")
    per = next(m for r in state["rooms"] for m in r["members"] if m["name"] == "Per Andersson")
    b = day.skane[1]
    await b.call("room.enter", {"room_id": rooms["Skåne"]})
    moved = await day.mod.call(
        "breakout.move", {"registration_id": per["id"], "room_id": rooms["Norrbotten"]}
    )
    assert moved["room"]["name"] == "Norrbotten"
    got = await b.wait_for("breakout.assigned", lambda d: d["room"]["name"] == "Norrbotten")
    assert got["room"]["id"] == rooms["Norrbotten"]
    hand = await b.call("room.hand", {"room_id": rooms["Skåne"], "raised": True})
    assert hand["error"]["code"] == "room.not_entered", "a raised hand must not put him back"
    a = day.skane[0]
    listed = await a.call("room.enter", {"room_id": rooms["Skåne"]})
    assert [p["name"] for p in listed["people"]] == ["Åsa Öberg"]
    assert (await b.call("room.enter", {"room_id": rooms["Skåne"]}))["error"][
        "code"
    ] == "room.not_member"
    assert (await b.call("room.enter", {"room_id": rooms["Norrbotten"]}))["ok"]
    visit = await day.mod.call("room.enter", {"room_id": rooms["Skåne"]})
    assert visit["ok"] and "Moderator" in [p["name"] for p in visit["people"]]
    assert (await day.mod.call("room.leave", {"room_id": rooms["Skåne"]}))["ok"]


async def test_templates_are_saved_for_next_meeting(day: Day) -> None:
    plan = {
        "grouping": {
            "strategy": "custom",
            "groups": [
                {"name": "Norr", "regions": ["BD", "AC", "Z", "Y"]},
                {"name": "Syd", "regions": ["M", "K"]},
            ],
        },
        "without_media": ["Syd"],
    }
    saved = await day.mod.call("breakout.template_save", {**plan, "name": "Hösten"})
    assert saved["ok"]
    listing = (await day.mod.call("breakout.templates"))["templates"]
    assert [t["name"] for t in listing] == ["Hösten"]
    assert [g["name"] for g in listing[0]["grouping"]["groups"]] == ["Norr", "Syd"]
    assert listing[0]["grouping"]["without_media"] == ["Syd"]


async def test_room_without_media_and_room_page_access(day: Day) -> None:
    opened = await open_by_region(day, without_media=["BD"])
    rooms = {r["name"]: r for r in opened["rooms"]}
    assert rooms["Norrbotten"]["media"] is False and rooms["Skåne"]["media"] is True
    norr_browser = day.browsers[3]
    own = await norr_browser.http.get(f"/e/hosten-2020/rooms/{rooms['Norrbotten']['id']}")
    assert (
        own.status_code == 200 and 'id="room-chat"' in own.text and 'id="room-no-media"' in own.text
    )
    other = await norr_browser.http.get(f"/e/hosten-2020/rooms/{rooms['Skåne']['id']}")
    assert other.status_code == 403 and 'id="room-chat"' not in other.text
    visit = await day.browsers[0].http.get(f"/e/hosten-2020/rooms/{rooms['Skåne']['id']}")
    assert visit.status_code == 200


async def test_after_a_server_restart_mid_round_everyone_lands_in_their_room(
    day: Day, demo_server
) -> None:
    """Assignments live in the database: the restarted process puts people back in their room."""
    opened = await open_by_region(day)
    rooms = {r["name"]: r["id"] for r in opened["rooms"]}
    await day.skane[0].call("room.enter", {"room_id": rooms["Skåne"]})
    await day.skane[0].call("chat.send", {"room_id": rooms["Skåne"], "text": "Före omstarten"})
    for client in (day.mod, *day.skane, day.norr):
        await client.close()
    demo_server.stop()
    demo_server.start()  # the same port, database and secret: browsers keep their cookies
    asa, anna = day.browsers[1], day.browsers[3]
    again = [await asa.connect(), await anna.connect()]
    try:
        for client, name in zip(again, ("Skåne", "Norrbotten"), strict=True):
            state = await client.call("breakout.state")
            assert state["round"]["status"] == "open" and state["room"]["id"] == rooms[name]
            entered = await client.call("room.enter", {"room_id": state["room"]["id"]})
            assert entered["ok"] and entered["room"]["name"] == name
        history = await again[0].call("chat.history", {"room_id": rooms["Skåne"]})
        assert [m["text"] for m in history["messages"]] == ["Före omstarten"]
        assert (await again[1].call("room.enter", {"room_id": rooms["Skåne"]}))["error"][
            "code"
        ] == "room.not_member"
        page = await anna.http.get(f"/e/hosten-2020/rooms/{rooms['Norrbotten']}")
        assert page.status_code == 200 and 'id="room-chat"' in page.text
    finally:
        for client in again:
            await client.close()


async def test_staff_see_of_the_rooms_only_what_their_role_needs(day: Day, clean_db: str) -> None:
    """Issue 19: speakers and captioners see no rooms, an archivist sees which rooms there are
    (to read their notes) but not who sits in them; moderators see the members."""
    from server.platform.auth import hash_password
    from server.platform.db import Database
    from server.platform.models import User
    from tests.conftest import ARCHIVIST

    db = Database(clean_db)
    async with db.transaction() as s:
        for name in ("talare", "skrivtolk"):
            s.add(User(username=name, display_name=name.title(), role={
                "talare": "speaker", "skrivtolk": "captioner"}[name],
                password_hash=hash_password(f"{name}-lösenord-1")))
    await db.close()
    await open_by_region(day)
    seen: dict[str, dict] = {}
    for username, password in (("talare", "talare-lösenord-1"),
                               ("skrivtolk", "skrivtolk-lösenord-1"), ARCHIVIST):
        browser = Browser(day.base)
        await browser.login(username, password)
        day.browsers.append(browser)
        client = await browser.connect()
        seen[username] = await client.call("breakout.state")
        await client.close()
    for role in ("talare", "skrivtolk"):
        assert seen[role]["round"]["status"] == "open" and "rooms" not in seen[role], role
    archive = seen[ARCHIVIST[0]]["rooms"]
    assert {r["name"] for r in archive} >= {"Skåne", "Norrbotten"}
    assert all("members" not in r for r in archive), "which rooms, not who is in them"
    moderator = await day.mod.call("breakout.state")
    assert any(r["members"] for r in moderator["rooms"])
