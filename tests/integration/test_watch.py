"""Watching together (issue 24 point 2), over real sockets against a live server: in a follow-up
meeting's room the facilitator shows the published recording; one participant plays and seeks,
the others are told; a late joiner reads where the film is now; only leaders choose the film;
nothing about the player reaches anyone outside the room."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from server.followup.models import FollowUpMeeting
from server.platform.auth import hash_password
from server.platform.db import Database
from server.platform.models import Event, StaffRole, User, utcnow
from server.recording.models import Publication, Recording
from tests.helpers import Browser

SLUG = "hosten-2020"


async def seed_meeting(url: str, base_url: str) -> tuple[int, int, str, Browser]:
    """A published recording, a facilitator of Jämtland Härjedalen signed in, her meeting."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            event = await session.scalar(select(Event.id).where(Event.slug == SLUG))
            start = utcnow() - timedelta(days=1)
            recording = Recording(event_id=event, file_path="recordings/1.mp4", status="stopped",
                                  started_at=start, stopped_at=start + timedelta(hours=1))
            session.add(recording)
            await session.flush()
            pub = Publication(recording_id=recording.id, title="Träffpunkt hösten 2020",
                              status="published", output_dir="published/1",
                              published_at=utcnow())
            karin = User(username="karin", display_name="Karin Fjäll", role="staff",
                         password_hash=hash_password("karin-lösenord-1"))
            session.add_all([pub, karin])
            await session.flush()
            session.add(StaffRole(user_id=karin.id, event_id=event, role="facilitator",
                                  regions=["Z"]))
            pub_id = pub.id
        browser = Browser(base_url)
        await browser.login("karin", "karin-lösenord-1")
        await browser.page(f"/e/{SLUG}/followup/new")
        done = await browser.post(f"/e/{SLUG}/followup/new", {
            "title": "Uppföljning Jämtland Härjedalen", "starts_at": "2020-11-02T10:00",
            "ends_at": "2020-11-02T12:00", "regions": "Z"})
        assert done.status_code == 200 and "Mötet är planerat" in done.text
        async with db.session() as session:
            meeting = (await session.scalars(select(FollowUpMeeting))).one()
            return pub_id, meeting.room_id, \
                f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}", browser
    finally:
        await db.close()


async def participant(base_url: str, link: str, name: str) -> Browser:
    browser = Browser(base_url)
    await browser.register(name=name, region="Z", municipality="Östersund")
    assert (await browser.page(link)).status_code == 200  # the room page
    return browser


async def test_a_room_watches_one_film_in_sync(demo_server, clean_db: str) -> None:
    pub_id, room_id, link, karin = await seed_meeting(clean_db, demo_server.url)
    anna = await participant(demo_server.url, link, "Anna Berg")
    per = await participant(demo_server.url, link, "Per Ek")
    outsider = Browser(demo_server.url)
    await outsider.register(name="Lars Malm", region="M")
    clients = []
    try:
        lead, a, p, out = [await b.connect(SLUG) for b in (karin, anna, per, outsider)]
        clients = [lead, a, p, out]
        for client in (lead, a, p):
            assert (await client.call("room.enter", {"room_id": room_id}))["ok"]
        refused = await out.call("watch.state", {"room_id": room_id})
        assert refused["error"]["code"] == "room.not_member"

        offered = await lead.call("watch.state", {"room_id": room_id})
        assert offered["leads"] and offered["films"] == [
            {"id": pub_id, "title": "Träffpunkt hösten 2020"}]
        assert offered["state"]["active"] is False
        mine = await a.call("watch.state", {"room_id": room_id})
        assert mine["leads"] is False and mine["films"] == []
        no = await a.call("watch.control", {"room_id": room_id, "action": "start",
                                            "publication_id": pub_id})
        assert no["error"]["code"] == "auth.forbidden", "only leaders choose the film"

        started = await lead.call("watch.control", {"room_id": room_id, "action": "start",
                                                    "publication_id": pub_id})
        assert started["state"]["media"] == f"/play/{pub_id}/media/"
        await p.wait_for("watch.state", lambda s: s["active"] and not s["playing"])

        played = await a.call("watch.control", {"room_id": room_id, "action": "play",
                                                "position": 120})
        assert played["state"]["playing"] is True
        told = await p.wait_for("watch.state", lambda s: s["playing"])
        assert told["position"] >= 120 and told["by"] == "Anna Berg"
        await asyncio.sleep(1.2)
        late = await per.connect(SLUG)  # a second device, joining late
        clients.append(late)
        await late.call("room.enter", {"room_id": room_id})
        now = (await late.call("watch.state", {"room_id": room_id}))["state"]
        assert now["playing"] and 121 <= now["position"] < 130, now

        sought = await p.call("watch.control", {"room_id": room_id, "action": "seek",
                                                "position": 3600.5})
        assert sought["state"]["playing"] is True, "a seek keeps playing"
        await a.wait_for("watch.state", lambda s: s["position"] >= 3600.5)
        paused = await a.call("watch.control", {"room_id": room_id, "action": "pause",
                                                "position": 3602})
        assert paused["state"] == {**paused["state"], "playing": False, "position": 3602.0}
        for bad in ({"action": "seek", "position": -1}, {"action": "seek", "position": 1e9},
                    {"action": "rewind"}, {"action": "seek"},
                    {"action": "start", "publication_id": 10**12}):
            answer = await a.call("watch.control", {"room_id": room_id, **bad})
            assert not answer["ok"], bad
        assert not any(name == "watch.state" for name, _ in out.events), "outside the room"

        stopped = await lead.call("watch.control", {"room_id": room_id, "action": "stop"})
        assert stopped["state"]["active"] is False
        await a.wait_for("watch.state", lambda s: not s["active"])
    finally:
        for client in clients:
            await client.close()
        for browser in (karin, anna, per, outsider):
            await browser.close()
