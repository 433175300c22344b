"""Live Q&A: ask, vote, moderate, put on screen, export.

Every change runs in the caller's transaction and bumps `events.qa_version` once, so a client
that missed a broadcast sees a gap in the version and re-fetches the snapshot. The socket layer
(server/sockets/qa.py) decides who hears what; this module only changes and reads state.

Visibility: participants see approved and answered questions, plus their own pending ones.
Anonymous questions store no name at all (moderators and exports see none either); the
registration id is kept so the author sees their own question and rate limits apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden, NotFound
from server.platform.models import Event, ProgrammeItem, utcnow
from server.platform.store import Store, require_rate
from server.qa.models import Question, QuestionVote

PUBLIC_STATES = frozenset({"approved", "answered"})
SPEAKER = "speaker"
MAX_ANSWER = 5000
MAX_ANSWERED_BY = 120
MAX_TEXT = 500
RATE_WINDOW = 60


@dataclass(frozen=True)
class Settings:
    open: bool
    premoderation: bool
    allow_anonymous: bool


@dataclass(frozen=True)
class Change:
    """What one action changed, at which version: the socket layer turns it into broadcasts."""

    version: int
    questions: tuple[Question, ...] = ()
    votes: dict[int, int] | None = None
    screen_cleared: bool = False


# --------------------------------------------------------------------------- guards


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Trimmed text of 1..limit characters; markup is kept as typed and shown as text."""
    text = text.strip()
    if not 1 <= len(text) <= limit:
        raise DomainError("qa.text_invalid", f"Texten måste ha 1–{limit} tecken.", max=limit)
    return text


async def rate_limit(store: Store, action: str, actor: Principal, per_minute: int) -> None:
    await require_rate(store, action, actor, per_minute, RATE_WINDOW, "qa.rate_limited",
                       "Du har gjort det för många gånger. Vänta en stund.",
                       limit=per_minute, window=RATE_WINDOW)


def _participant(actor: Principal, event_id: int) -> None:
    if actor.kind != "participant" or actor.event_id != event_id:
        raise DomainError("qa.participants_only", "Bara anmälda deltagare kan göra detta.")


async def _event(db: AsyncSession, event_id: int) -> Event:
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    return event


async def _open_event(db: AsyncSession, event_id: int) -> Event:
    event = await _event(db, event_id)
    if not event.qa_open:
        raise DomainError("qa.closed", "Frågestunden är stängd.")
    return event


async def question(db: AsyncSession, event_id: int, question_id: int) -> Question:
    """The question, only if it belongs to this event (another event's id is 'not found')."""
    found = await db.get(Question, question_id)
    if found is None or found.event_id != event_id:
        raise NotFound("qa.not_found", "Frågan finns inte.")
    return found


def _require_state(q: Question, *states: str) -> None:
    if q.state not in states:
        raise DomainError("qa.invalid_state", "Frågan kan inte ändras så i sitt nuvarande läge.",
                          state=q.state)


async def bump(db: AsyncSession, event_id: int) -> int:
    """Increment and return the event's Q&A version (row lock: concurrent changes serialise).

    A Core UPDATE on the table, not an ORM-enabled one: the ORM path evaluates the criteria
    against every object in the session to synchronise them, a few milliseconds per change on
    the hot path of Q&A (bench/qa_fanout.py), and nothing in a transaction reads an `Event`'s
    `qa_version` after bumping it."""
    events = cast(Table, Event.__table__)
    version = await db.scalar(
        update(events).where(events.c.id == event_id)
        .values(qa_version=events.c.qa_version + 1).returning(events.c.qa_version)
    )
    if version is None:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    return int(version)


async def _changed(
    db: AsyncSession, event_id: int, *questions: Question, screen_cleared: bool = False
) -> Change:
    for q in questions:
        q.updated_at = utcnow()
    version = await bump(db, event_id)
    await db.flush()
    votes = await vote_counts(db, [q.id for q in questions])
    return Change(version, questions, votes, screen_cleared)


# --------------------------------------------------------------------------- participants


async def ask(
    db: AsyncSession, actor: Principal, event_id: int, text: str, *,
    anonymous: bool = False, item_id: int | None = None,
) -> Change:
    _participant(actor, event_id)
    event = await _open_event(db, event_id)
    if anonymous and not event.qa_allow_anonymous:
        raise DomainError("qa.anonymous_not_allowed", "Anonyma frågor är inte tillåtna här.")
    if item_id is not None:
        item = await db.get(ProgrammeItem, item_id)
        if item is None or item.event_id != event_id:
            raise NotFound("qa.item_not_found", "Programpunkten finns inte.")
    now = utcnow()
    q = Question(
        event_id=event_id, registration_id=actor.id, anonymous=anonymous,
        author_name="" if anonymous else actor.name, text=clean_text(text), item_id=item_id,
        state="pending" if event.qa_premoderation else "approved",
        approved_at=None if event.qa_premoderation else now, created_at=now,
    )
    db.add(q)
    await db.flush()
    return await _changed(db, event_id, q)


async def vote(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, up: bool
) -> Change:
    """One vote per participant and question; `up=False` takes it back. Idempotent."""
    _participant(actor, event_id)
    await _open_event(db, event_id)
    q = await question(db, event_id, question_id)
    if q.state not in PUBLIC_STATES and q.registration_id != actor.id:
        # Pending, rejected or merged: invisible to this participant, so as unknown as an id
        # that does not exist (a vote must not tell anyone what the moderators hold back).
        raise NotFound("qa.not_found", "Frågan finns inte.")
    _require_state(q, *PUBLIC_STATES)
    existing = await db.get(QuestionVote, (q.id, actor.id))
    if up and existing is None:
        db.add(QuestionVote(question_id=q.id, registration_id=actor.id))
    elif not up and existing is not None:
        await db.delete(existing)
    await db.flush()
    version = await bump(db, event_id)
    return Change(version, (), await vote_counts(db, [q.id]))


# --------------------------------------------------------------------------- moderators


async def approve(db: AsyncSession, actor: Principal, event_id: int, question_id: int) -> Change:
    actor.require_moderator()
    q = await question(db, event_id, question_id)
    _require_state(q, "pending", "rejected")
    q.state, q.approved_at, q.reject_reason = "approved", utcnow(), ""
    audit.record(db, actor, event_id, "qa.approve", f"question:{q.id}")
    return await _changed(db, event_id, q)


async def reject(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, reason: str
) -> Change:
    actor.require_moderator()
    event = await _event(db, event_id)
    q = await question(db, event_id, question_id)
    _require_state(q, "pending", "approved", "answered")
    q.state, q.reject_reason = "rejected", reason.strip()[:300]
    cleared = _off_screen(event, q)
    audit.record(db, actor, event_id, "qa.reject", f"question:{q.id}", reason=q.reject_reason)
    return await _changed(db, event_id, q, screen_cleared=cleared)


async def edit(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, text: str
) -> Change:
    """Correct a question's text; the original stays in the audit log."""
    actor.require_moderator()
    q = await question(db, event_id, question_id)
    _require_state(q, "pending", "approved", "answered", "rejected")
    new_text = clean_text(text)
    audit.record(db, actor, event_id, "qa.edit", f"question:{q.id}", before=q.text, after=new_text)
    q.text = new_text
    return await _changed(db, event_id, q)


async def merge(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, into_id: int
) -> Change:
    """Fold a duplicate into another question: votes combined, each voter counted once."""
    actor.require_moderator()
    if question_id == into_id:
        raise DomainError("qa.merge_self", "En fråga kan inte slås ihop med sig själv.")
    event = await _event(db, event_id)
    source = await question(db, event_id, question_id)
    target = await question(db, event_id, into_id)
    _require_state(source, "pending", "approved", "answered", "rejected")
    _require_state(target, "pending", "approved", "answered")
    await _move_votes(db, source.id, target.id)
    source.state, source.merged_into_id = "merged", target.id
    cleared = _off_screen(event, source)
    audit.record(db, actor, event_id, "qa.merge", f"question:{source.id}", into=target.id)
    return await _changed(db, event_id, source, target, screen_cleared=cleared)


async def _move_votes(db: AsyncSession, source_id: int, target_id: int) -> None:
    already = select(QuestionVote.registration_id).where(QuestionVote.question_id == target_id)
    moved = (
        select(literal(target_id), QuestionVote.registration_id, QuestionVote.created_at)
        .where(QuestionVote.question_id == source_id)
        .where(QuestionVote.registration_id.not_in(already))
    )
    await db.execute(insert(QuestionVote).from_select(
        ["question_id", "registration_id", "created_at"], moved))
    await db.execute(delete(QuestionVote).where(QuestionVote.question_id == source_id))


async def mark_answered(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, answered: bool = True
) -> Change:
    actor.require_moderator()
    q = await question(db, event_id, question_id)
    _require_state(q, "approved", "answered")
    q.state = "answered" if answered else "approved"
    q.answered_at = utcnow() if answered else None
    audit.record(db, actor, event_id, "qa.answered", f"question:{q.id}", answered=answered)
    return await _changed(db, event_id, q)


def is_speaker(actor: Principal) -> bool:
    return actor.is_staff and actor.role == SPEAKER


def may_answer(actor: Principal) -> bool:
    """Moderators (and admins) and speakers write answers; nobody else."""
    return actor.is_moderator or is_speaker(actor)


def _answerer(actor: Principal, q: Question, answered_by: str | None) -> str:
    """Who the answer is from, after checking the actor may answer this question now.

    A moderator may answer any open question, also a pending one (which answering publishes),
    and may name the speaker they write for. A speaker answers only what the audience already
    sees (approved or answered), always under their own name.
    """
    if actor.is_moderator:
        _require_state(q, "pending", "approved", "answered")
        return (answered_by or "").strip()[:MAX_ANSWERED_BY] or actor.name
    _require_state(q, *PUBLIC_STATES)
    return actor.name[:MAX_ANSWERED_BY]


async def answer(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int, text: str,
    answered_by: str | None = None,
) -> Change:
    """A written answer (for questions there was no time for live); marks the question answered.

    Moderators and speakers only (`auth.forbidden` for anyone else, before anything is read).
    """
    if not may_answer(actor):
        raise Forbidden("Endast moderatorer och talare får svara skriftligt.",
                        key="auth.forbidden.written_answer")
    q = await question(db, event_id, question_id)
    by = _answerer(actor, q, answered_by)
    q.answer, q.answered_by, q.state = clean_text(text, MAX_ANSWER), by, "answered"
    q.approved_at = q.approved_at or utcnow()
    q.answered_at = q.answered_at or utcnow()
    audit.record(db, actor, event_id, "qa.answer", f"question:{q.id}", by=q.answered_by)
    return await _changed(db, event_id, q)


async def put_on_screen(
    db: AsyncSession, actor: Principal, event_id: int, question_id: int | None
) -> Change:
    """One question at a time on the presenter view; None clears the screen."""
    actor.require_moderator()
    event = await _event(db, event_id)
    shown: tuple[Question, ...] = ()
    if question_id is not None:
        q = await question(db, event_id, question_id)
        _require_state(q, *PUBLIC_STATES)
        shown = (q,)
    event.qa_on_screen_id = question_id
    audit.record(db, actor, event_id, "qa.on_screen", f"question:{question_id}")
    version = await bump(db, event_id)
    return Change(version, shown, await vote_counts(db, [q.id for q in shown]))


def _off_screen(event: Event, q: Question) -> bool:
    if event.qa_on_screen_id != q.id:
        return False
    event.qa_on_screen_id = None
    return True


async def configure(
    db: AsyncSession, actor: Principal, event_id: int, *, open: bool | None = None,
    premoderation: bool | None = None, allow_anonymous: bool | None = None,
) -> tuple[int, Settings]:
    """Open or close Q&A, switch pre-moderation and anonymous questions."""
    actor.require_moderator()
    event = await _event(db, event_id)
    changes = {"qa_open": open, "qa_premoderation": premoderation,
               "qa_allow_anonymous": allow_anonymous}
    for column, value in changes.items():
        if value is not None:
            setattr(event, column, value)
    audit.record(db, actor, event_id, "qa.configure", f"event:{event_id}",
                 **{k: v for k, v in changes.items() if v is not None})
    return await bump(db, event_id), settings_of(event)


def settings_of(event: Event) -> Settings:
    return Settings(event.qa_open, event.qa_premoderation, event.qa_allow_anonymous)


# --------------------------------------------------------------------------- reading


# Built once: `column.in_(a_list)` made anew per call leaves ten objects in reference cycles
# (SQLAlchemy's expanding parameter), and at 200 snapshots a second those piled up into a
# 40-90 ms collector pause every half minute (seen by bench/hostile.py). An expanding
# parameter given at execution leaves none.
_VOTE_COUNTS = (
    select(QuestionVote.question_id, func.count())
    .where(QuestionVote.question_id.in_(bindparam("ids", expanding=True)))
    .group_by(QuestionVote.question_id)
)


async def vote_counts(db: AsyncSession, question_ids: Iterable[int]) -> dict[int, int]:
    ids = list(question_ids)
    counts = {i: 0 for i in ids}
    if ids:
        rows = await db.execute(_VOTE_COUNTS, {"ids": ids})
        counts.update({qid: int(n) for qid, n in rows.all()})
    return counts


def visible_to_public(q: Question) -> bool:
    return q.state in PUBLIC_STATES


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _fields(q: Question, votes: int) -> dict[str, Any]:
    return {
        "id": q.id, "text": q.text, "author": None if q.anonymous else q.author_name,
        "anonymous": q.anonymous, "item_id": q.item_id, "state": q.state, "votes": votes,
        "created_at": _iso(q.created_at), "approved_at": _iso(q.approved_at),
        "answered_at": _iso(q.answered_at), "answer": q.answer, "answered_by": q.answered_by,
    }


def public_view(q: Question, votes: int) -> dict[str, Any]:
    """What every participant may see of a question. Non-public questions are just 'hidden'."""
    if not visible_to_public(q):
        return {"id": q.id, "state": "hidden"}
    return _fields(q, votes)


def own_view(q: Question, votes: int) -> dict[str, Any]:
    """What the author sees of their own question: its state, never the reject reason."""
    return {**_fields(q, votes), "mine": True}


def moderator_view(q: Question, votes: int) -> dict[str, Any]:
    return {
        **_fields(q, votes), "reject_reason": q.reject_reason,
        "merged_into_id": q.merged_into_id, "updated_at": _iso(q.updated_at),
    }


async def snapshot(db: AsyncSession, viewer: Principal, event_id: int) -> dict[str, Any]:
    """Everything the viewer may see, with the version it is current at."""
    event = await _event(db, event_id)
    questions = list(await db.scalars(
        select(Question).where(Question.event_id == event_id).order_by(Question.id)))
    votes = await vote_counts(db, [q.id for q in questions])
    mine = await _my_votes(db, viewer, event_id)
    return {
        "version": event.qa_version, "settings": settings_of(event).__dict__,
        "on_screen_id": event.qa_on_screen_id,
        "questions": [v for q in questions if (v := _view_for(viewer, q, votes[q.id], mine))],
    }


def _view_for(
    viewer: Principal, q: Question, votes: int, my_votes: set[int]
) -> dict[str, Any] | None:
    if viewer.is_moderator:
        return None if q.state == "merged" else moderator_view(q, votes)
    if viewer.kind == "participant" and q.registration_id == viewer.id and q.state != "merged":
        if q.state != "rejected":
            return {**own_view(q, votes), "voted": q.id in my_votes}
    if visible_to_public(q):
        return {**public_view(q, votes), "voted": q.id in my_votes}
    return None


async def _my_votes(db: AsyncSession, viewer: Principal, event_id: int) -> set[int]:
    if viewer.kind != "participant":
        return set()
    rows = await db.scalars(
        select(QuestionVote.question_id).join(Question, Question.id == QuestionVote.question_id)
        .where(QuestionVote.registration_id == viewer.id, Question.event_id == event_id)
    )
    return set(rows)


async def on_screen(db: AsyncSession, event_id: int) -> dict[str, Any]:
    """The presenter view's data: the question on screen (public view) or none."""
    event = await _event(db, event_id)
    shown = None
    if event.qa_on_screen_id is not None:
        q = await db.get(Question, event.qa_on_screen_id)
        if q is not None and visible_to_public(q):
            shown = public_view(q, (await vote_counts(db, [q.id]))[q.id])
    return {"version": event.qa_version, "question": shown}


EXPORT_FIELDS = (
    "id", "state", "text", "author", "anonymous", "votes", "programme_item", "asked_at",
    "approved_at", "answered_at", "answer", "answered_by", "merged_into_id",
)
MODERATOR_EXPORT_FIELDS = (*EXPORT_FIELDS, "reject_reason")


def export_fields(moderator: bool = False) -> tuple[str, ...]:
    """The export's columns: the reject reason only for moderators (and admins)."""
    return MODERATOR_EXPORT_FIELDS if moderator else EXPORT_FIELDS


async def export_rows(
    db: AsyncSession, event_id: int, *, moderator: bool = False
) -> list[dict[str, Any]]:
    """All questions of an event for KB's archive: one dict per question, `export_fields` keys.

    Anonymous questions carry no author. Times are ISO 8601 in UTC. The reject reason is
    moderators' information: it is left out unless `moderator` (so the archival package, which
    calls this with the defaults, carries none). Reused by the archival package, so the keys
    are stable.
    """
    await _event(db, event_id)
    rows = (await db.execute(
        select(Question, ProgrammeItem.title)
        .outerjoin(ProgrammeItem, ProgrammeItem.id == Question.item_id)
        .where(Question.event_id == event_id).order_by(Question.id)
    )).all()
    votes = await vote_counts(db, [q.id for q, _ in rows])
    return [_export_row(q, title, votes[q.id], moderator) for q, title in rows]


def _export_row(
    q: Question, item_title: str | None, votes: int, moderator: bool = False
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": q.id, "state": q.state, "text": q.text,
        "author": "" if q.anonymous else q.author_name, "anonymous": q.anonymous,
        "votes": votes, "programme_item": item_title or "", "asked_at": _iso(q.created_at),
        "approved_at": _iso(q.approved_at), "answered_at": _iso(q.answered_at),
        "answer": q.answer, "answered_by": q.answered_by, "merged_into_id": q.merged_into_id,
    }
    if moderator:
        row["reject_reason"] = q.reject_reason
    return row


async def forget_author(db: AsyncSession, registration_id: int) -> None:
    """A registration is deleted: its questions stay, anonymous and without the name."""
    await db.execute(update(Question).where(Question.registration_id == registration_id)
                     .values(author_name="", anonymous=True, registration_id=None,
                             updated_at=utcnow()))


async def rename_author(db: AsyncSession, registration_id: int, name: str) -> None:
    """A registration's name was corrected: its named questions show the new one."""
    await db.execute(update(Question).where(
        Question.registration_id == registration_id, Question.anonymous.is_(False),
    ).values(author_name=name))
