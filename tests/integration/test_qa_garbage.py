"""The Q&A's hottest path leaves nothing for the garbage collector.

Every participant asks for the Q&A state when they connect and after every reconnect; at a
national event that is hundreds a second. Objects left in reference cycles are freed only by
the collector, which stops the event loop for everyone while it runs: ten such objects per
snapshot (a `column.in_(list)` built per call) added up to a 40-90 ms pause every half minute
in bench/hostile.py. Reference counting alone must free what a snapshot makes.
"""

from __future__ import annotations

import gc

from sqlalchemy import select

from server.platform.auth import Principal
from server.platform.models import Event, Registration
from server.qa import service as qa
from server.qa.models import Question, QuestionVote
from tests.conftest import register


async def test_a_participants_snapshot_leaves_no_reference_cycles(app, client) -> None:  # type: ignore[no-untyped-def]
    await register(client)
    platform = app.platform
    async with platform.db.transaction() as db:
        event = (await db.scalars(select(Event).where(Event.slug == "hosten-2020"))).one()
        me = (await db.scalars(select(Registration))).one()
        for n in range(5):
            db.add(Question(event_id=event.id, registration_id=me.id, text=f"Fråga {n}",
                            state="approved"))
        await db.flush()
        first = (await db.scalars(select(Question).order_by(Question.id))).first()
        assert first is not None
        db.add(QuestionVote(question_id=first.id, registration_id=me.id))
    viewer = Principal(kind="participant", id=me.id, name=me.name, event_id=event.id)

    async def snapshot() -> dict:  # type: ignore[type-arg]
        async with platform.db.session() as db:
            return await qa.snapshot(db, viewer, event.id)

    seen = await snapshot()  # warm: compiled statements are cached, not garbage
    assert len(seen["questions"]) == 5 and sum(q["voted"] for q in seen["questions"]) == 1

    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            await snapshot()
        left_in_cycles = gc.collect()
    finally:
        gc.enable()
    assert left_in_cycles == 0, f"{left_in_cycles} objects in reference cycles after 50 snapshots"
