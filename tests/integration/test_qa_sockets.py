"""Live Q&A over real socket.io on a real server and PostgreSQL: what each person sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.conftest import MODERATOR
from tests.helpers import Browser, Client


@asynccontextmanager
async def person(url: str, name: str | None = None, login: tuple[str, str] | None = None,
                 ) -> AsyncIterator[tuple[Browser, Client]]:
    """A browser profile (registered participant or logged-in staff) with a socket open."""
    browser = Browser(url)
    if login:
        await browser.login(*login)
    else:
        await browser.register(name=name or "Deltagare")
    client = await browser.connect()
    try:
        yield browser, client
    finally:
        await client.close()
        await browser.close()


def texts(snapshot: dict[str, Any]) -> list[str]:
    return [q["text"] for q in snapshot["questions"]]


def heard(client: Client, name: str = "qa.question") -> list[Any]:
    return [data for event, data in client.events if event == name]


async def test_ask_approve_vote_and_who_sees_what(demo_server) -> None:
    url = demo_server.url
    async with person(url, "Karin Lund") as (_, asker), person(url, "Per Holm") as (_, other), \
            person(url, login=MODERATOR) as (_, mod):
        for c in (asker, other, mod):
            assert (await c.call("qa.snapshot"))["questions"] == []
        asked = await asker.call("qa.ask", {"text": "  Hur når vi unga?  "})
        assert asked["ok"] and asked["question"]["state"] == "pending", asked
        assert asked["question"]["text"] == "Hur når vi unga?" and asked["question"]["mine"]
        qid = asked["question"]["id"]
        pending = await mod.wait_for("qa.question", lambda d: d["question"]["id"] == qid)
        assert pending["question"]["state"] == "pending"
        assert pending["question"]["author"] == "Karin Lund"
        assert texts(await other.call("qa.snapshot")) == [], "pending is for moderators only"
        own = await asker.call("qa.snapshot")
        assert own["questions"][0]["mine"] and own["questions"][0]["state"] == "pending"
        assert all("Hur når" not in str(d) for d in heard(other))

        approved = await mod.call("qa.approve", {"question_id": qid})
        assert approved["ok"] and approved["version"] > asked["version"]
        live = await other.wait_for("qa.question", lambda d: d["question"]["state"] == "approved")
        assert live["question"]["text"] == "Hur når vi unga?"
        assert live["version"] == approved["version"]
        assert live["question"]["author"] == "Karin Lund"

        first = await other.call("qa.vote", {"question_id": qid, "up": True})
        again = await other.call("qa.vote", {"question_id": qid, "up": True})
        assert (first["votes"], again["votes"]) == (1, 1), "one vote each"
        await mod.wait_for("qa.votes", lambda d: d["id"] == qid and d["votes"] == 1)
        await asker.wait_for("qa.votes", lambda d: d["id"] == qid and d["votes"] == 1)
        snap = await other.call("qa.snapshot")
        assert snap["questions"][0]["voted"] and snap["questions"][0]["votes"] == 1
        back = await other.call("qa.vote", {"question_id": qid, "up": False})
        assert back["votes"] == 0
        versions = [d["version"] for d in heard(mod) + heard(mod, "qa.votes")]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert (await mod.call("qa.snapshot"))["version"] == back["version"]


async def test_text_rules_anonymity_and_programme_item(demo_server) -> None:
    url = demo_server.url
    async with person(url, "Sara Ek") as (_, p), person(url, "Leo") as (_, p2), \
            person(url, login=MODERATOR) as (_, mod):
        for bad in ("   ", "x" * 501):
            answer = await p.call("qa.ask", {"text": bad})
            assert answer["error"]["code"] == "qa.text_invalid"
        ok = await p.call("qa.ask", {"text": " " + "å" * 500 + " "})
        assert ok["ok"] and len(ok["question"]["text"]) == 500
        items = (await p.call("programme.get"))["programme"]["items"]
        anon = await p.call("qa.ask", {"text": "Anonym fråga", "anonymous": True,
                                       "item_id": items[1]["id"]})
        assert anon["question"]["author"] is None and anon["question"]["item_id"] == items[1]["id"]
        seen = await mod.wait_for("qa.question", lambda d: d["question"]["text"] == "Anonym fråga")
        assert seen["question"]["author"] is None, "anonymous to moderators too"
        wrong_item = await p2.call("qa.ask", {"text": "Fel punkt", "item_id": 999999})
        assert wrong_item["error"]["code"] == "qa.item_not_found"
        await mod.call("qa.configure", {"allow_anonymous": False})
        refused = await p2.call("qa.ask", {"text": "Igen", "anonymous": True})
        assert refused["error"]["code"] == "qa.anonymous_not_allowed"


async def test_participant_sending_moderator_events_changes_nothing(demo_server) -> None:
    url = demo_server.url
    async with person(url, "Ola") as (_, p), person(url, login=MODERATOR) as (_, mod):
        qid = (await p.call("qa.ask", {"text": "Min fråga"}))["question"]["id"]
        version = (await mod.call("qa.snapshot"))["version"]
        for name, payload in [
            ("qa.approve", {"question_id": qid}), ("qa.reject", {"question_id": qid}),
            ("qa.edit", {"question_id": qid, "text": "Ändrad"}), ("qa.show", {"question_id": qid}),
            ("qa.merge", {"question_id": qid, "into_id": qid}),
            ("qa.mark_answered", {"question_id": qid}),
            ("qa.answer", {"question_id": qid, "text": "Svar"}), ("qa.configure", {"open": False}),
        ]:
            answer = await p.call(name, payload)
            assert answer["error"]["code"] == "auth.forbidden", name
        errors = [d for e, d in p.events if e == "error"]
        assert {e["event"] for e in errors} >= {"qa.approve", "qa.configure"}
        snap = await mod.call("qa.snapshot")
        assert snap["version"] == version and snap["questions"][0]["state"] == "pending"
        assert snap["questions"][0]["text"] == "Min fråga" and snap["settings"]["open"]


@pytest.mark.parametrize("name,payload", [
    ("qa.ask", None), ("qa.ask", "x" * 20000), ("qa.ask", {"text": 5}), ("qa.ask", [1, 2]),
    ("qa.ask", {"text": "a", "extra": 1}), ("qa.vote", {"question_id": "ett"}),
    ("qa.vote", {"question_id": True}), ("qa.vote", {"question_id": -1}),
])
async def test_malformed_payloads_get_an_error_and_the_connection_stays(
    demo_server, name, payload
) -> None:
    async with person(demo_server.url, "Eva") as (_, p), person(demo_server.url, "Bo") as (_, q):
        answer = await p.call(name, payload)
        assert answer["ok"] is False and answer["error"]["code"].startswith("payload.")
        assert (await p.call("qa.snapshot"))["ok"] and (await q.call("qa.snapshot"))["ok"]


async def test_rate_limit_on_asking(demo_server) -> None:
    async with person(demo_server.url, "Snabb") as (_, p):
        answers = [await p.call("qa.ask", {"text": f"Fråga {n}"}) for n in range(6)]
        assert [a["ok"] for a in answers] == [True] * 5 + [False]
        assert answers[-1]["error"]["code"] == "qa.rate_limited"
        error = await p.wait_for("error", lambda d: d["code"] == "qa.rate_limited")
        assert error["event"] == "qa.ask" and error["details"]["limit"] == 5


async def test_closed_qa_and_no_premoderation(demo_server) -> None:
    url = demo_server.url
    async with person(url, "A") as (_, a), person(url, "B") as (_, b), \
            person(url, login=MODERATOR) as (_, mod):
        await b.call("qa.snapshot")
        settings = await mod.call("qa.configure", {"premoderation": False})
        assert settings["premoderation"] is False
        await b.wait_for("qa.settings", lambda d: d["premoderation"] is False)
        asked = await a.call("qa.ask", {"text": "Direkt synlig"})
        assert asked["question"]["state"] == "approved"
        await b.wait_for("qa.question", lambda d: d["question"].get("text") == "Direkt synlig")
        await mod.call("qa.configure", {"open": False})
        closed = await a.call("qa.ask", {"text": "För sent"})
        assert closed["error"]["code"] == "qa.closed"
        vote = await b.call("qa.vote", {"question_id": asked["question"]["id"]})
        assert vote["error"]["code"] == "qa.closed"


async def test_reconnecting_client_catches_up_from_a_newer_snapshot(demo_server) -> None:
    url = demo_server.url
    async with person(url, "Karin Lund") as (_, asker), person(url, login=MODERATOR) as (_, mod):
        first = (await asker.call("qa.ask", {"text": "Hur når vi unga?"}))["question"]["id"]
        second = (await asker.call("qa.ask", {"text": "Vem betalar?"}))["question"]["id"]
        await mod.call("qa.approve", {"question_id": first})
        browser = Browser(url)
        await browser.register(name="Per Holm")
        client = await browser.connect()
        before = await client.call("qa.snapshot")
        assert [(q["id"], q["state"]) for q in before["questions"]] == [(first, "approved")]
        await client.close()  # offline: every change below is missed

        missed = [
            await mod.call("qa.approve", {"question_id": second}),
            await mod.call("qa.edit", {"question_id": first, "text": "Hur når vi unga vuxna?"}),
            await mod.call("qa.answer", {"question_id": first, "text": "Via skolbiblioteken.",
                                         "answered_by": "Maria Bergroth"}),
            await mod.call("qa.show", {"question_id": second}),
        ]
        assert all(m["ok"] for m in missed), missed

        again = await browser.connect()  # a new handshake token, as the browser fetches
        after = await again.call("qa.snapshot")
        assert after["version"] == missed[-1]["version"] > before["version"]
        assert after["on_screen_id"] == second
        by_id = {q["id"]: q for q in after["questions"]}
        assert (by_id[first]["text"], by_id[first]["state"], by_id[first]["answer"],
                by_id[first]["answered_by"]) == (
            "Hur når vi unga vuxna?", "answered", "Via skolbiblioteken.", "Maria Bergroth")
        assert by_id[second]["state"] == "approved" and by_id[second]["text"] == "Vem betalar?"

        latest = await mod.call("qa.mark_answered", {"question_id": second})
        live = await again.wait_for("qa.question", lambda d: d["question"]["id"] == second)
        assert live["version"] == latest["version"] == after["version"] + 1, (
            "the broadcasts continue right after the snapshot's version: no gap")
        await again.close()
        await browser.close()
