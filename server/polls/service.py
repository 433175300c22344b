"""Live polls: a moderator asks the audience a question with 2-8 answers; registered
participants vote once each (they may change their answer while the poll is open); everyone
sees the results update live. One poll is open at a time per event: opening one closes the
other. Polls and their results are part of the day's record (the archival package).

The results are counted from the database on every broadcast, never kept in memory, so any
node can send them and a restart loses nothing. Votes of a crowd arrive together: they are
stored in batches (`VoteBatcher`), and the result broadcasts are coalesced (`Results`): the
first vote of a quiet poll schedules one `polls.results` broadcast RESULTS_EVERY seconds later,
counted from the database then; the votes until it ride along.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit, keys
from server.platform.auth import Principal
from server.platform.errors import (
    DomainError,
    Forbidden,
    NotFound,
    log_unexpected,
    unavailable,
    unavailable_error,
)
from server.platform.models import utcnow
from server.platform.node import Key, Platform
from server.polls.models import Poll, PollVote

MAX_QUESTION = 200
MAX_OPTION = 100
MIN_OPTIONS, MAX_OPTIONS = 2, 8
RESULTS_EVERY = 0.5


def _line(text: str) -> str:
    return " ".join(text.split())


class PollIn(BaseModel):
    """A new poll as a moderator writes it; whitespace folded, options distinct."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=4 * MAX_QUESTION)
    options: list[str] = Field(max_length=4 * MAX_OPTIONS)

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = _line(value)
        if not 1 <= len(value) <= MAX_QUESTION:
            raise ValueError(f"the question needs 1-{MAX_QUESTION} characters")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        options = [_line(o) for o in value if _line(o)]
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ValueError(f"{MIN_OPTIONS}-{MAX_OPTIONS} options")
        if any(len(o) > MAX_OPTION for o in options):
            raise ValueError(f"an option has at most {MAX_OPTION} characters")
        if len({o.casefold() for o in options}) != len(options):
            raise ValueError("the options must differ")
        return options


def parse(data: dict[str, Any]) -> PollIn:
    """Validate a new poll; `poll.invalid` with the reason (in Swedish) otherwise."""
    try:
        return PollIn.model_validate(data)
    except ValueError as exc:
        raise DomainError(
            "poll.invalid",
            f"En omröstning behöver en fråga (högst {MAX_QUESTION} tecken) och "
            f"{MIN_OPTIONS}–{MAX_OPTIONS} olika svar (högst {MAX_OPTION} tecken vardera).",
            max_question=MAX_QUESTION, min_options=MIN_OPTIONS, max_options=MAX_OPTIONS,
            max_option=MAX_OPTION,
        ) from exc


def _moderator(actor: Principal) -> None:
    if not actor.is_moderator:
        raise Forbidden("Bara moderatorer styr omröstningar.", key="auth.forbidden.polls")


async def get_poll(db: AsyncSession, event_id: int, poll_id: int, *, lock: bool = False) -> Poll:
    query = select(Poll).where(Poll.id == poll_id, Poll.event_id == event_id)
    poll = await db.scalar(query.with_for_update() if lock else query)
    if poll is None:
        raise NotFound("poll.not_found", "Omröstningen finns inte.")
    return poll


async def create(db: AsyncSession, actor: Principal, event_id: int, data: PollIn) -> Poll:
    _moderator(actor)
    poll = Poll(event_id=event_id, question=data.question, options=data.options,
                status="draft", on_screen=False, created_by=actor.name[:120], created_at=utcnow())
    db.add(poll)
    await db.flush()
    audit.record(db, actor, event_id, "poll.create", f"poll:{poll.id}")
    return poll


async def open_poll(db: AsyncSession, actor: Principal, event_id: int, poll_id: int) -> Poll:
    """Open a poll (again); any other open poll of the event closes."""
    _moderator(actor)
    poll = await get_poll(db, event_id, poll_id, lock=True)
    now = utcnow()
    await db.execute(
        update(Poll).where(Poll.event_id == event_id, Poll.status == "open", Poll.id != poll.id)
        .values(status="closed", closed_at=now))
    poll.status, poll.opened_at, poll.closed_at = "open", poll.opened_at or now, None
    audit.record(db, actor, event_id, "poll.open", f"poll:{poll.id}")
    return poll


async def close_poll(db: AsyncSession, actor: Principal, event_id: int, poll_id: int) -> Poll:
    _moderator(actor)
    poll = await get_poll(db, event_id, poll_id, lock=True)
    if poll.status == "open":
        poll.status, poll.closed_at = "closed", utcnow()
        audit.record(db, actor, event_id, "poll.close", f"poll:{poll.id}")
    return poll


async def put_on_screen(
    db: AsyncSession, actor: Principal, event_id: int, poll_id: int, shown: bool
) -> list[Poll]:
    """Show a poll's results on the presenter view (or take them off); one poll at a time.
    Returns the polls whose `on_screen` changed."""
    _moderator(actor)
    poll = await get_poll(db, event_id, poll_id, lock=True)
    if shown and poll.status == "draft":
        raise DomainError("poll.draft", "Öppna omröstningen innan resultatet visas.")
    changed = []
    if shown:
        others = await db.scalars(
            select(Poll).where(Poll.event_id == event_id, Poll.on_screen, Poll.id != poll.id))
        for other in others:
            other.on_screen = False
            changed.append(other)
    if poll.on_screen != shown:
        poll.on_screen = shown
        changed.append(poll)
        audit.record(db, actor, event_id, "poll.on_screen" if shown else "poll.off_screen",
                     f"poll:{poll.id}")
    return changed


async def on_screen(db: AsyncSession, event_id: int) -> dict[str, Any] | None:
    """The poll the presenter view shows, with its results, or None."""
    poll = await db.scalar(
        select(Poll).where(Poll.event_id == event_id, Poll.on_screen, Poll.status != "draft"))
    return await view(db, poll) if poll else None


@dataclass
class Ballot:
    """One vote waiting for its batch; `done` resolves with the poll's view or a refusal."""

    event_id: int
    poll_id: int
    registration_id: int
    option: int
    done: asyncio.Future[dict[str, Any]]


def _refusal(poll: Poll | None, ballot: Ballot) -> DomainError | None:
    if poll is None or poll.event_id != ballot.event_id:
        return NotFound("poll.not_found", "Omröstningen finns inte.")
    if poll.status != "open":
        return DomainError("poll.closed", "Omröstningen är inte öppen.")
    if not 0 <= ballot.option < len(poll.options):
        return DomainError("poll.bad_option", "Det svaret finns inte.")
    return None


async def store_ballots(
    db: AsyncSession, ballots: list[Ballot]
) -> list[dict[str, Any] | DomainError]:
    """Check and store a batch of votes in one statement (a later vote of the same person
    replaces an earlier one); per ballot, the poll's view after the batch or its refusal."""
    found = await db.scalars(select(Poll).where(Poll.id.in_({b.poll_id for b in ballots})))
    polls = {poll.id: poll for poll in found}
    outcome: list[dict[str, Any] | DomainError] = []
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    now = utcnow()
    for ballot in ballots:
        refusal = _refusal(polls.get(ballot.poll_id), ballot)
        outcome.append(refusal or {})
        if refusal is None:
            rows[(ballot.poll_id, ballot.registration_id)] = {
                "poll_id": ballot.poll_id, "registration_id": ballot.registration_id,
                "option": ballot.option, "voted_at": now}
    if rows:
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = insert(PollVote).values(list(rows.values()))
        await db.execute(statement.on_conflict_do_update(
            index_elements=["poll_id", "registration_id"],
            set_={"option": statement.excluded.option, "voted_at": statement.excluded.voted_at}))
    views = {pid: await view(db, polls[pid]) for pid in {pid for pid, _ in rows}}
    return [result if isinstance(result, DomainError) else views[b.poll_id]
            for result, b in zip(outcome, ballots, strict=True)]


class VoteBatcher:
    """Votes that arrive together are stored together: one transaction per WINDOW seconds
    instead of one per vote (a thousand people answering in the same second were queueing for
    the database one by one: bench/polls.py). A vote is acknowledged only once its batch is
    committed, so an acknowledged vote is counted and survives a restart."""

    WINDOW = 0.02

    def __init__(self, transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]]
                 ) -> None:
        self._transaction = transaction
        self._pending: list[Ballot] = []
        self._task: asyncio.Task[None] | None = None

    async def vote(self, actor: Principal, event_id: int, poll_id: int,
                   option: int) -> dict[str, Any]:
        """A participant's answer; a second vote replaces the first while the poll is open.
        Returns the poll's view with the batch counted."""
        if actor.kind != "participant" or actor.event_id != event_id:
            raise DomainError("poll.participants_only", "Bara anmälda deltagare kan rösta.")
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(Ballot(event_id, poll_id, actor.id, option, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._store_soon())
        return await done

    async def _store_soon(self) -> None:
        while self._pending:
            await asyncio.sleep(self.WINDOW)
            batch, self._pending = self._pending, []
            try:
                async with self._transaction() as db:
                    results = await store_ballots(db, batch)
            except Exception as exc:  # nothing of the batch was stored: every voter hears it
                if unavailable(exc):  # the database away for a moment (the rehearsal's restart)
                    error = unavailable_error("poll votes", exc)
                else:
                    log_unexpected("poll votes", exc)
                    error = DomainError("server.error", "Rösten kunde inte sparas. Försök igen.",
                                        key="server.error.vote")
                results = [error] * len(batch)
            for ballot, result in zip(batch, results, strict=True):
                if ballot.done.done():  # the voter went away meanwhile
                    continue
                if isinstance(result, DomainError):
                    ballot.done.set_exception(result)
                else:
                    ballot.done.set_result(result)

    async def stop(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def counts(db: AsyncSession, poll: Poll) -> list[int]:
    rows = await db.execute(
        select(PollVote.option, func.count()).where(PollVote.poll_id == poll.id)
        .group_by(PollVote.option))
    tally = dict(rows.tuples().all())
    return [int(tally.get(i, 0)) for i in range(len(poll.options))]


async def mine(db: AsyncSession, actor: Principal, poll_ids: list[int]) -> dict[int, int]:
    """The participant's answers to these polls."""
    if actor.kind != "participant" or not poll_ids:
        return {}
    rows = await db.execute(
        select(PollVote.poll_id, PollVote.option)
        .where(PollVote.registration_id == actor.id, PollVote.poll_id.in_(poll_ids)))
    return dict(rows.tuples().all())


async def view(db: AsyncSession, poll: Poll) -> dict[str, Any]:
    tally = await counts(db, poll)
    return {"id": poll.id, "question": poll.question, "options": list(poll.options),
            "status": poll.status, "on_screen": poll.on_screen, "counts": tally,
            "total": sum(tally)}


async def listing(db: AsyncSession, actor: Principal, event_id: int) -> list[dict[str, Any]]:
    """Moderators see every poll; others those that have been opened. Newest first, each
    with `mine`: the caller's answer or null."""
    query = select(Poll).where(Poll.event_id == event_id)
    if not actor.is_moderator:
        query = query.where(Poll.status != "draft")
    polls = list(await db.scalars(query.order_by(Poll.id.desc())))
    answers = await mine(db, actor, [p.id for p in polls])
    return [{**await view(db, p), "mine": answers.get(p.id)} for p in polls]


async def export_rows(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """Every opened poll with its results, one row per answer (for the archival package)."""
    polls = await db.scalars(
        select(Poll).where(Poll.event_id == event_id, Poll.status != "draft").order_by(Poll.id))
    rows: list[dict[str, Any]] = []
    for poll in polls:
        tally = await counts(db, poll)
        for index, (option, count) in enumerate(zip(poll.options, tally, strict=True)):
            rows.append({
                "poll_id": poll.id, "question": poll.question, "option_index": index,
                "option": option, "votes": count, "total": sum(tally),
                "opened_at": poll.opened_at.isoformat() if poll.opened_at else None,
                "closed_at": poll.closed_at.isoformat() if poll.closed_at else None,
            })
    return rows


class Results:
    """This node's pending result broadcasts, one per poll."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._pending: dict[int, asyncio.Task[None]] = {}

    def soon(self, event_id: int, poll_id: int) -> None:
        if poll_id not in self._pending:
            self._pending[poll_id] = asyncio.create_task(self._send(event_id, poll_id))

    async def _send(self, event_id: int, poll_id: int) -> None:
        try:
            await asyncio.sleep(RESULTS_EVERY)
            del self._pending[poll_id]  # votes from now on schedule the next broadcast
            async with self._platform.db.session() as db:
                poll = await get_poll(db, event_id, poll_id)
                tally = await counts(db, poll)
            await self._platform.sio.emit(
                "polls.results", {"id": poll_id, "counts": tally, "total": sum(tally)},
                to=keys.event_room(event_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next vote tries again
            self._pending.pop(poll_id, None)
            log_unexpected("poll results", exc)

    async def stop(self) -> None:
        for task in self._pending.values():
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)


RESULTS = Key("polls.results", Results)
BALLOTS = Key("polls.ballots", VoteBatcher)
