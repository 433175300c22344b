"""Speakers answer in writing: a staff role made with the CLI, on a real server and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from server.platform.db import Database
from server.platform.models import AuditEntry, User
from tests.conftest import MODERATOR, ROOT
from tests.integration.test_qa_sockets import person

SPEAKER = ("talare", "talarens-lösenord-1")
SPEAKER_NAME = "Maria Bergroth"


def create_speaker(database_url: str) -> None:
    """`traffpunkt create-user --role speaker`, exactly as an operator runs it."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "x",
           "TRAFFPUNKT_ENV": "test", "PW": SPEAKER[1]}
    made = subprocess.run(
        [sys.executable, "-m", "server.cli", "create-user", SPEAKER[0], "--role", "speaker",
         "--name", SPEAKER_NAME, "--password-env", "PW"],
        cwd=ROOT, text=True, capture_output=True, env=env, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert "(speaker)" in made.stdout


async def test_speaker_answers_in_writing_under_their_own_name(demo_server, clean_db) -> None:
    create_speaker(clean_db)
    url = demo_server.url
    async with person(url, "Karin Lund") as (_, asker), person(url, "Per Holm") as (_, listener), \
            person(url, login=MODERATOR) as (_, mod), person(url, login=SPEAKER) as (_, speaker):
        ids = [(await asker.call("qa.ask", {"text": t}))["question"]["id"]
               for t in ("Hur når vi unga?", "Väntar fortfarande", "Reklam här")]
        await mod.call("qa.approve", {"question_id": ids[0]})
        await mod.call("qa.reject", {"question_id": ids[2], "reason": "Reklam"})
        await listener.call("qa.snapshot")
        seen = await speaker.call("qa.snapshot")
        assert [q["id"] for q in seen["questions"]] == [ids[0]], "speakers see the public view"
        assert "reject_reason" not in seen["questions"][0]

        answered = await speaker.call("qa.answer", {"question_id": ids[0], "answered_by": "Någon",
                                                     "text": "  Genom skolbiblioteken.  "})
        assert answered["ok"], answered
        live = await listener.wait_for("qa.question", lambda d: d["version"] == answered["version"])
        q = live["question"]
        assert (q["state"], q["answer"], q["answered_by"]) == (
            "answered", "Genom skolbiblioteken.", SPEAKER_NAME), "always the speaker's own name"
        assert q["answered_at"] and q["approved_at"]
        await mod.wait_for("qa.question", lambda d: d["version"] == answered["version"])

        again = await speaker.call("qa.answer", {"question_id": ids[0],
                                                  "text": "Och folkbiblioteken."})
        assert again["ok"] and again["version"] == answered["version"] + 1
        rewritten = await listener.wait_for("qa.question",
                                            lambda d: d["version"] == again["version"])
        assert rewritten["question"]["answer"] == "Och folkbiblioteken."
        assert rewritten["question"]["answered_at"] == q["answered_at"], "answered once, at first"

        for qid in ids[1:]:
            refused = await speaker.call("qa.answer", {"question_id": qid, "text": "Svar"})
            assert refused["error"]["code"] == "qa.invalid_state", "not pending, not rejected"
        for name, payload in (("qa.approve", {"question_id": ids[1]}),
                              ("qa.show", {"question_id": ids[0]}),
                              ("qa.mark_answered", {"question_id": ids[0], "answered": False})):
            refused = await speaker.call(name, payload)
            assert refused["error"]["code"] == "auth.forbidden", name
        version = (await mod.call("qa.snapshot"))["version"]
        assert version == again["version"], "nothing the speaker was refused changed anything"

        participant = await asker.call("qa.answer", {"question_id": ids[0], "text": "Mitt svar"})
        assert participant["error"]["code"] == "auth.forbidden"
        error = await asker.wait_for("error", lambda d: d["event"] == "qa.answer")
        assert error["code"] == "auth.forbidden"
        after = await mod.call("qa.snapshot")
        assert after["version"] == version
        states = {q["id"]: (q["state"], q["answer"]) for q in after["questions"]}
        assert states == {ids[0]: ("answered", "Och folkbiblioteken."), ids[1]: ("pending", ""),
                          ids[2]: ("rejected", "")}

    db = Database(clean_db)
    async with db.session() as session:
        speaker_id = await session.scalar(select(User.id).where(User.username == SPEAKER[0]))
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "qa.answer").order_by(AuditEntry.id)))
    await db.close()
    assert [(e.actor_user_id, e.data) for e in entries] == [(speaker_id, {"by": SPEAKER_NAME})] * 2


async def test_speaker_page_offers_the_answer_form_and_nobody_else(demo_server, clean_db) -> None:
    create_speaker(clean_db)
    url = demo_server.url
    async with person(url, login=SPEAKER) as (speaker, _), \
            person(url, "Per Holm") as (participant, _), person(url, login=MODERATOR) as (mod, _):
        page = (await speaker.page("/e/hosten-2020/live")).text
        assert 'data-answer="true"' in page and 'id="qa-speaker-help"' in page
        for other in (participant, mod):
            html = (await other.page("/e/hosten-2020/live")).text
            assert 'id="qa-panel"' in html and "data-answer" not in html
