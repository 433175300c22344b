"""Live polls on a real server and PostgreSQL: a moderator opens a poll, participants vote once
(and may change their answer), everyone gets the results; hostile input is refused; a second
poll closes the first; a restart keeps every vote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.polls.service import RESULTS_EVERY
from tests.conftest import MODERATOR, LiveServer, seed, server_env
from tests.integration.test_qa_sockets import person

pytestmark = pytest.mark.slow  # a server process, restarted

QUESTION = "Hur långt har er region kommit med biblioteksplanen?"
OPTIONS = ["Antagen", "Under arbete", "Inte påbörjad"]


async def test_a_poll_from_opening_to_results_and_after_a_restart(
    clean_db: str, tmp_path: Path
) -> None:
    await seed(clean_db)
    env = server_env(clean_db, tmp_path / "media")
    server = LiveServer(env).start()
    try:
        url = server.url
        async with person(url, login=MODERATOR) as (mod_browser, mod), \
                person(url, "Karin Lund") as (_, karin), person(url, "Per Holm") as (_, per), \
                person(url, "Åsa Öberg") as (_, asa):
            def create(question: object, options: object):  # type: ignore[no-untyped-def]
                return mod.call("polls.create", {"question": question, "options": options})

            refused = {
                "participant creates": await karin.call(
                    "polls.create", {"question": QUESTION, "options": OPTIONS}),
                "one option": await create("Ja?", ["Ja"]),
                "same twice": await create("Ja?", ["Ja", " ja "]),
                "nine options": await create("Vilken?", [str(i) for i in range(9)]),
                "no question": await create("  ", OPTIONS),
                "not a list": await create("Q", "a,b"),
            }
            assert {k: v["error"]["code"] for k, v in refused.items()} == {
                "participant creates": "auth.forbidden", "one option": "poll.invalid",
                "same twice": "poll.invalid", "nine options": "poll.invalid",
                "no question": "poll.invalid", "not a list": "payload.invalid"}

            created = await create(f"  {QUESTION} ", [*OPTIONS[:2], "", OPTIONS[2]])
            assert created["ok"], created
            poll = created["poll"]
            assert (poll["question"], poll["options"]) == (QUESTION, OPTIONS)
            assert poll["status"] == "draft"
            assert (await karin.call("polls.list", {}))["polls"] == [], "drafts are for moderators"
            early = await karin.call("polls.vote", {"poll_id": poll["id"], "option": 0})
            assert early["error"]["code"] == "poll.closed"

            assert (await mod.call("polls.open", {"poll_id": poll["id"]}))["ok"]
            shown = await karin.wait_for("polls.state", lambda d: d["status"] == "open")
            assert shown["question"] == QUESTION
            for client, option in ((karin, 0), (per, 1), (asa, 1)):
                voted = await client.call("polls.vote", {"poll_id": poll["id"], "option": option})
                assert voted["ok"] and voted["poll"]["mine"] == option, voted
            changed = await karin.call("polls.vote", {"poll_id": poll["id"], "option": 1})
            assert changed["poll"]["counts"] == [0, 3, 0], "a changed answer replaces the first"
            live = await per.wait_for("polls.results", lambda d: d["total"] == 3)
            assert live["counts"] == [0, 3, 0]
            bad = {
                "option out of range": await per.call(
                    "polls.vote", {"poll_id": poll["id"], "option": 3}),
                "negative option": await per.call(
                    "polls.vote", {"poll_id": poll["id"], "option": -1}),
                "staff votes": await mod.call("polls.vote", {"poll_id": poll["id"], "option": 0}),
                "no such poll": await per.call("polls.vote", {"poll_id": 999, "option": 0}),
                "string option": await per.call(
                    "polls.vote", {"poll_id": poll["id"], "option": "1"}),
            }
            assert {k: v["error"]["code"] for k, v in bad.items()} == {
                "option out of range": "poll.bad_option", "negative option": "payload.invalid",
                "staff votes": "poll.participants_only", "no such poll": "poll.not_found",
                "string option": "payload.invalid"}

            # On the hall's screen: the results in the question's place, live.
            show = {"poll_id": poll["id"], "shown": True}
            assert (await karin.call("polls.screen", show))["error"]["code"] == "auth.forbidden"
            on = await mod.call("polls.screen", show)
            assert on["poll"]["on_screen"] is True
            screen = await mod_browser.http.get("/e/hosten-2020/presenter/state")
            assert screen.json()["poll"]["counts"] == [0, 3, 0]
            await per.call("polls.vote", {"poll_id": poll["id"], "option": 0})
            again = await mod_browser.http.get(
                "/e/hosten-2020/presenter/state", headers={"If-None-Match": screen.headers["ETag"]})
            assert again.status_code == 200, "a new vote changes what the screen shows"
            assert again.json()["poll"]["counts"] == [1, 2, 0]

            second = await create("Kaffe?", ["Ja", "Nej"])
            draft = await mod.call("polls.screen", {"poll_id": second["poll"]["id"], "shown": True})
            assert draft["error"]["code"] == "poll.draft"
            assert (await mod.call("polls.open", {"poll_id": second["poll"]["id"]}))["ok"]
            closed = await asa.wait_for(
                "polls.state", lambda d: d["id"] == poll["id"] and d["status"] == "closed")
            assert closed["counts"] == [1, 2, 0], "opening one poll closes the other"
            late = await asa.call("polls.vote", {"poll_id": poll["id"], "option": 0})
            assert late["error"]["code"] == "poll.closed"

            # A burst of votes costs a few broadcasts, not one per vote.
            def results_of_second() -> int:
                return len([d for e, d in asa.events
                            if e == "polls.results" and d["id"] == second["poll"]["id"]])

            assert results_of_second() == 0, "nobody has voted in the second poll yet"
            for _ in range(5):
                for client in (karin, per, asa):
                    await client.call("polls.vote", {"poll_id": second["poll"]["id"], "option": 0})
            await asa.wait_for("polls.results", lambda d: d["id"] == second["poll"]["id"])
            # The coalescing window is what is counted: let a broadcast still due go out.
            await asyncio.sleep(2 * RESULTS_EVERY + 0.2)
            bursts = results_of_second()
            assert 1 <= bursts <= 3, f"{bursts} result broadcasts for 15 votes"
        server.stop()
        server = LiveServer(env).start()
        async with person(server.url, login=MODERATOR) as (_, mod):
            after = {p["question"]: p for p in (await mod.call("polls.list", {}))["polls"]}
        assert after[QUESTION]["counts"] == [1, 2, 0] and after[QUESTION]["status"] == "closed"
        assert after[QUESTION]["on_screen"] is True, "still on screen after a restart"
        assert after["Kaffe?"]["counts"] == [3, 0] and after["Kaffe?"]["status"] == "open"
    finally:
        server.stop()
