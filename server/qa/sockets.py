"""Socket events `qa.*`: parse, authorise, call server/qa.py, broadcast what each may see.

Audiences: moderators (the event's moderators room) get the full view of every change;
participants who opened the Q&A panel (keys.qa_room, joined by `qa.snapshot`) get public views
only, where a question that is not (or no longer) public is just `{"id", "state": "hidden"}`;
an author also hears their own pending question on their registration room.
Every broadcast carries the event's Q&A version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import keys
from server.platform.errors import DomainError
from server.platform.sockets import Id, Router, SocketContext
from server.qa import service as qa

router = Router()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskIn(Strict):
    text: str = Field(max_length=2000)
    anonymous: StrictBool = False
    item_id: Id | None = None


class VoteIn(Strict):
    question_id: Id
    up: StrictBool = True


class QuestionIn(Strict):
    question_id: Id


class RejectIn(QuestionIn):
    reason: str = Field("", max_length=300)


class EditIn(QuestionIn):
    text: str = Field(max_length=2000)


class MergeIn(QuestionIn):
    into_id: Id


class AnsweredIn(QuestionIn):
    answered: StrictBool = True


class AnswerIn(QuestionIn):
    text: str = Field(max_length=qa.MAX_ANSWER)
    answered_by: str | None = Field(None, max_length=qa.MAX_ANSWERED_BY)


class ShowIn(Strict):
    question_id: Id | None  # None takes the question off the screen


class ConfigureIn(Strict):
    open: StrictBool | None = None
    premoderation: StrictBool | None = None
    allow_anonymous: StrictBool | None = None


@asynccontextmanager
async def _transaction(ctx: SocketContext) -> AsyncIterator[AsyncSession]:
    """A write transaction; a lost race on a unique key becomes a typed error, not a 500."""
    try:
        async with ctx.platform.db.transaction() as db:
            yield db
    except IntegrityError as exc:
        raise DomainError("qa.conflict", "Någon hann före. Försök igen.") from exc


# --------------------------------------------------------------------------- everyone


@router.on("qa.snapshot")
async def snapshot(ctx: SocketContext, _: None) -> dict[str, Any]:
    """Join the Q&A audience and get the current state (call again after a version gap)."""
    if not ctx.principal.is_moderator:
        await ctx.platform.sio.enter_room(ctx.sid, keys.qa_room(ctx.event_id))
    async with ctx.platform.db.session() as db:
        return await qa.snapshot(db, ctx.principal, ctx.event_id)


@router.on("qa.ask", AskIn)
async def ask(ctx: SocketContext, data: AskIn) -> dict[str, Any]:
    limit = ctx.platform.settings.qa_ask_per_minute
    await qa.rate_limit(ctx.platform.store, "qa.ask", ctx.principal, limit)
    async with _transaction(ctx) as db:
        change = await qa.ask(db, ctx.principal, ctx.event_id, data.text,
                              anonymous=data.anonymous, item_id=data.item_id)
    await publish(ctx, change)
    q = change.questions[0]
    return {"version": change.version, "question": qa.own_view(q, 0)}


@router.on("qa.vote", VoteIn)
async def vote(ctx: SocketContext, data: VoteIn) -> dict[str, Any]:
    limit = ctx.platform.settings.qa_vote_per_minute
    await qa.rate_limit(ctx.platform.store, "qa.vote", ctx.principal, limit)
    async with _transaction(ctx) as db:
        change = await qa.vote(db, ctx.principal, ctx.event_id, data.question_id, data.up)
    await publish(ctx, change)
    votes = (change.votes or {}).get(data.question_id, 0)
    return {"version": change.version, "id": data.question_id, "votes": votes, "voted": data.up}


# --------------------------------------------------------------------------- moderators


@router.on("qa.approve", QuestionIn, moderator=True)
async def approve(ctx: SocketContext, data: QuestionIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.approve(db, ctx.principal, ctx.event_id, data.question_id)
    return await publish(ctx, change)


@router.on("qa.reject", RejectIn, moderator=True)
async def reject(ctx: SocketContext, data: RejectIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.reject(db, ctx.principal, ctx.event_id, data.question_id, data.reason)
    await _screen_after(ctx, change)
    return await publish(ctx, change)


@router.on("qa.edit", EditIn, moderator=True)
async def edit(ctx: SocketContext, data: EditIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.edit(db, ctx.principal, ctx.event_id, data.question_id, data.text)
    return await publish(ctx, change)


@router.on("qa.merge", MergeIn, moderator=True)
async def merge(ctx: SocketContext, data: MergeIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.merge(db, ctx.principal, ctx.event_id, data.question_id, data.into_id)
    await _screen_after(ctx, change)
    return await publish(ctx, change)


@router.on("qa.mark_answered", AnsweredIn, moderator=True)
async def mark_answered(ctx: SocketContext, data: AnsweredIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.mark_answered(
            db, ctx.principal, ctx.event_id, data.question_id, data.answered)
    return await publish(ctx, change)


@router.on("qa.answer", AnswerIn)
async def answer(ctx: SocketContext, data: AnswerIn) -> dict[str, Any]:
    """Moderators and speakers: server/qa.py decides (a speaker answers under their own name)."""
    async with _transaction(ctx) as db:
        change = await qa.answer(
            db, ctx.principal, ctx.event_id, data.question_id, data.text, data.answered_by)
    return await publish(ctx, change)


@router.on("qa.show", ShowIn, moderator=True)
async def show(ctx: SocketContext, data: ShowIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        change = await qa.put_on_screen(db, ctx.principal, ctx.event_id, data.question_id)
    shown = change.questions[0] if change.questions else None
    view = qa.public_view(shown, (change.votes or {}).get(shown.id, 0)) if shown else None
    await _emit_both(ctx, "qa.on_screen",
                     {"version": change.version, "question_id": data.question_id, "question": view})
    return {"version": change.version, "question_id": data.question_id}


@router.on("qa.configure", ConfigureIn, moderator=True)
async def configure(ctx: SocketContext, data: ConfigureIn) -> dict[str, Any]:
    async with _transaction(ctx) as db:
        version, settings = await qa.configure(
            db, ctx.principal, ctx.event_id, **data.model_dump(exclude_none=True))
    body = {"version": version, **settings.__dict__}
    await _emit_both(ctx, "qa.settings", body)
    return body


# --------------------------------------------------------------------------- broadcasting


async def publish(ctx: SocketContext, change: qa.Change) -> dict[str, Any]:
    """Tell each audience what it may see of the change; returns the ack body."""
    votes = change.votes or {}
    if not change.questions:
        for qid, n in votes.items():
            await _emit_both(ctx, "qa.votes", {"version": change.version, "id": qid, "votes": n})
    for q in change.questions:
        n = votes.get(q.id, 0)
        await _emit_question(ctx, change.version, q, n)
    return {"version": change.version}


async def _emit_question(ctx: SocketContext, version: int, q: Any, votes: int) -> None:
    eid = ctx.event_id
    await ctx.emit("qa.question", {"version": version, "question": qa.public_view(q, votes)},
                   keys.qa_room(eid))
    await ctx.emit("qa.question", {"version": version, "question": qa.moderator_view(q, votes)},
                   keys.moderators_room(eid))
    if q.registration_id is not None and not qa.visible_to_public(q):
        await ctx.emit("qa.question", {"version": version, "question": qa.own_view(q, votes)},
                       keys.registration_room(q.registration_id))


async def _emit_both(ctx: SocketContext, name: str, body: dict[str, Any]) -> None:
    await ctx.emit(name, body, keys.qa_room(ctx.event_id))
    await ctx.emit(name, body, keys.moderators_room(ctx.event_id))


async def _screen_after(ctx: SocketContext, change: qa.Change) -> None:
    """A rejected or merged question leaves the screen."""
    if change.screen_cleared:
        await _emit_both(ctx, "qa.on_screen",
                         {"version": change.version, "question_id": None, "question": None})
