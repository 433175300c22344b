"""Moderation, export, event scoping, restart and two server processes, on real servers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from server.platform.db import Database
from server.platform.models import AuditEntry
from tests.conftest import ARCHIVIST, DEMO, MODERATOR, REDIS_URL, LiveServer, server_env
from tests.helpers import Browser
from tests.integration.test_qa_sockets import heard, person

pytestmark = pytest.mark.slow  # every test here runs on server processes


async def test_reject_edit_merge_answer_and_screen(demo_server, clean_db) -> None:
    url = demo_server.url
    async with person(url, "Anna") as (_, a), person(url, "Bo") as (_, b), \
            person(url, "Cia") as (_, c), person(url, login=MODERATOR) as (_, mod):
        await c.call("qa.snapshot")
        ids = [(await p.call("qa.ask", {"text": t}))["question"]["id"]
               for p, t in ((a, "Hur mäter vi?"), (b, "Hur mäts det?"), (a, "Reklam här"))]
        for qid in ids[:2]:
            await mod.call("qa.approve", {"question_id": qid})
        for voter in (b, c):
            await voter.call("qa.vote", {"question_id": ids[0]})
        for voter in (a, c):  # Cia votes for both: she must count once after the merge
            await voter.call("qa.vote", {"question_id": ids[1]})

        await mod.call("qa.show", {"question_id": ids[1]})
        merged = await mod.call("qa.merge", {"question_id": ids[1], "into_id": ids[0]})
        assert merged["ok"]
        target = await c.wait_for("qa.question", lambda d: d["question"]["id"] == ids[0]
                                  and d["version"] == merged["version"])
        assert target["question"]["votes"] == 3, "Bo + Cia + Anna, Cia counted once"
        gone = {"id": ids[1], "state": "hidden"}
        await c.wait_for("qa.question", lambda d: d["question"] == gone)
        await c.wait_for("qa.on_screen", lambda d: d["question_id"] is None)

        rejected = await mod.call("qa.reject", {"question_id": ids[2], "reason": "Reklam"})
        assert rejected["ok"]
        own = await a.wait_for("qa.question", lambda d: d["question"]["id"] == ids[2]
                               and d["question"]["state"] == "rejected")
        assert "reject_reason" not in own["question"], "the reason is for moderators only"
        assert "Reklam" not in json.dumps(await a.call("qa.snapshot"))
        mod_snap = await mod.call("qa.snapshot")
        assert {q["id"]: q.get("reject_reason") for q in mod_snap["questions"]}[ids[2]] == "Reklam"

        await mod.call("qa.edit", {"question_id": ids[0], "text": "Hur mäter vi effekterna?"})
        await mod.call("qa.answer", {"question_id": ids[0], "text": "Med enkäter.",
                                     "answered_by": "Maria Bergroth"})
        snap = await c.call("qa.snapshot")
        assert [(q["text"], q["state"], q["answer"], q["answered_by"], q["votes"])
                for q in snap["questions"]] == [
            ("Hur mäter vi effekterna?", "answered", "Med enkäter.", "Maria Bergroth", 3)]
        wrong = await mod.call("qa.show", {"question_id": ids[2]})
        assert wrong["error"]["code"] == "qa.invalid_state"
        shown = await mod.call("qa.show", {"question_id": ids[0]})
        assert shown["ok"]
        assert heard(c, "qa.on_screen")[-1]["question"]["text"] == "Hur mäter vi effekterna?"

    db = Database(clean_db)
    async with db.session() as session:
        edit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "qa.edit"))
        assert edit and edit.data == {
            "before": "Hur mäter vi?", "after": "Hur mäter vi effekterna?"}
    await db.close()


def csv_rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))


async def test_export_for_kb(demo_server) -> None:
    url = demo_server.url
    async with person(url, "Åsa Öberg") as (part, p), person(url, login=MODERATOR) as (mbr, mod):
        named = (await p.call("qa.ask", {"text": "=SUMMA(A1) är en formel"}))["question"]["id"]
        await p.call("qa.ask", {"text": "Anonym undran", "anonymous": True})
        written = (await p.call("qa.ask", {"text": "Hinner ni svara?"}))["question"]["id"]
        spam = (await p.call("qa.ask", {"text": "Köp min bok"}))["question"]["id"]
        await mod.call("qa.approve", {"question_id": named})
        await mod.call("qa.mark_answered", {"question_id": named})
        await mod.call("qa.answer", {"question_id": written, "text": "Ja, skriftligt."})
        await mod.call("qa.reject", {"question_id": spam, "reason": "Reklam för en bok"})
        refused = await part.http.get("/e/hosten-2020/qa/export.csv")
        assert refused.status_code in (401, 403)
        full = (await mbr.http.get("/e/hosten-2020/qa/export.json")).json()["questions"]
        assert [q["reject_reason"] for q in full] == ["", "", "", "Reklam för en bok"]
        mod_csv = csv_rows(await mbr.http.get("/e/hosten-2020/qa/export.csv"))
        assert mod_csv[3]["reject_reason"] == "Reklam för en bok", "moderators see the reason"
    archivist = Browser(url)
    await archivist.login(*ARCHIVIST)
    response = await archivist.http.get("/e/hosten-2020/qa/export.json")
    first, second, third, fourth = response.json()["questions"]
    assert (first["author"], first["state"], first["votes"]) == ("Åsa Öberg", "answered", 0)
    assert first["asked_at"] and first["approved_at"] and first["answered_at"]
    assert (second["author"], second["anonymous"], second["state"]) == ("", True, "pending")
    assert (third["state"], third["answer"], third["answered_by"]) == (
        "answered", "Ja, skriftligt.", "Moderator")
    assert third["asked_at"] <= third["approved_at"] <= third["answered_at"], (
        "a written answer keeps the times asked, approved and answered")
    assert fourth["state"] == "rejected"
    assert "Reklam" not in response.text and "reject_reason" not in response.text, (
        "the reject reason is moderators' information, not the archivist's")
    rows = csv_rows(await archivist.http.get("/e/hosten-2020/qa/export.csv"))
    assert rows[0]["text"] == "'=SUMMA(A1) är en formel", "no formula injection in Excel"
    assert rows[1]["author"] == "" and rows[0]["author"] == "Åsa Öberg"
    assert "reject_reason" not in rows[0] and all("Reklam" not in str(r) for r in rows)
    assert rows[2]["asked_at"] and rows[2]["approved_at"] and rows[2]["answered_at"]
    await archivist.close()


async def _second_event(url: str) -> None:
    from server.programme.importer import import_event, read_event_file

    db = Database(url)
    async with db.transaction() as session:
        data = read_event_file(DEMO).model_copy(update={"slug": "varen-2021"})
        await import_event(session, data)
    await db.close()


async def test_other_events_see_nothing_and_cannot_touch_questions(demo_server, clean_db) -> None:
    await _second_event(clean_db)
    url = demo_server.url
    outsider = Browser(url)
    await outsider.register(slug="varen-2021", name="Utomstående")
    other = await outsider.connect("varen-2021")
    async with person(url, "Insider") as (_, p), person(url, login=MODERATOR) as (_, mod):
        await other.call("qa.snapshot")
        qid = (await p.call("qa.ask", {"text": "Bara för hösten"}))["question"]["id"]
        await mod.call("qa.approve", {"question_id": qid})
        vote = await other.call("qa.vote", {"question_id": qid})
        assert vote["error"]["code"] == "qa.not_found"
        assert (await other.call("qa.snapshot"))["questions"] == []
        assert all("Bara för hösten" not in str(d) for _, d in other.events)
        moderator_elsewhere = Browser(url)
        await moderator_elsewhere.login(*MODERATOR)
        mod2 = await moderator_elsewhere.connect("varen-2021")
        answer = await mod2.call("qa.reject", {"question_id": qid})
        assert answer["error"]["code"] == "qa.not_found"
        assert (await mod.call("qa.snapshot"))["questions"][0]["state"] == "approved"
        await mod2.close()
        await moderator_elsewhere.close()
    await other.close()
    await outsider.close()


async def test_restart_loses_nothing(clean_db, tmp_path) -> None:
    from tests.conftest import seed

    await seed(clean_db)
    env = server_env(clean_db, tmp_path / "media")
    server = LiveServer(env).start()
    try:
        async with person(server.url, "Ida") as (browser, p), \
                person(server.url, login=MODERATOR) as (_, mod):
            qid = (await p.call("qa.ask", {"text": "Överlever detta?"}))["question"]["id"]
            await mod.call("qa.approve", {"question_id": qid})
            await p.call("qa.vote", {"question_id": qid})
            before = await p.call("qa.snapshot")
            cookies = dict(browser.http.cookies)
    finally:
        server.stop()
    server = LiveServer(env, port=server.port).start()
    try:
        again = Browser(server.url)
        again.http.cookies.update(cookies)
        client = await again.connect()
        after = await client.call("qa.snapshot")
        assert after == before and after["questions"][0]["voted"]
        assert after["questions"][0]["votes"] == 1
        await client.close()
        await again.close()
    finally:
        server.stop()


async def test_two_processes_share_questions_through_redis(clean_db, tmp_path) -> None:
    from tests.conftest import seed

    await seed(clean_db)
    env = server_env(clean_db, tmp_path / "media", REDIS_URL)
    one, two = LiveServer(env).spawn(), LiveServer(env).spawn()
    for node in (one, two):
        node.wait()
    try:
        async with person(one.url, "Nod Ett") as (_, p), \
                person(two.url, login=MODERATOR) as (_, mod), person(two.url, "Nod Två") as (_, q):
            for client in (p, q, mod):
                await client.call("qa.snapshot")
            asked = await p.call("qa.ask", {"text": "Syns jag på andra noden?"})
            seen = await mod.wait_for("qa.question", lambda d: d["question"].get("text")
                                      == "Syns jag på andra noden?")
            assert seen["version"] == asked["version"] and seen["question"]["author"] == "Nod Ett"
            await mod.call("qa.approve", {"question_id": asked["question"]["id"]})
            await q.wait_for("qa.question", lambda d: d["question"].get("state") == "approved")
            await p.wait_for("qa.question", lambda d: d["question"].get("state") == "approved")
    finally:
        one.stop()
        two.stop()


async def test_a_vote_tells_nobody_what_the_moderators_hold_back(demo_server, clean_db) -> None:
    """Issue 19: voting on a pending or rejected question of someone else answers exactly as
    voting on an id that does not exist, so no one can probe the moderation queue."""
    url = demo_server.url
    async with person(url, "Anna") as (_, a), person(url, "Bo") as (_, b), \
            person(url, login=MODERATOR) as (_, mod):
        pending = (await a.call("qa.ask", {"text": "Väntar på moderering"}))["question"]["id"]
        rejected = (await a.call("qa.ask", {"text": "Avvisas"}))["question"]["id"]
        await mod.call("qa.reject", {"question_id": rejected, "reason": "Dubblett"})
        missing = await b.call("qa.vote", {"question_id": rejected + 1000})
        assert missing["error"]["code"] == "qa.not_found"
        for qid in (pending, rejected):
            answer = await b.call("qa.vote", {"question_id": qid})
            assert answer["error"] == missing["error"], "held back looks like missing"
        own = await a.call("qa.vote", {"question_id": pending})
        assert own["error"]["code"] == "qa.invalid_state", "the author sees her own question"
