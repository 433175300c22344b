"""Socket events `polls.*`: moderators create, open and close polls; participants vote.

A change of state (`polls.state`, the whole poll) goes to everyone in the event at once. Votes
are coalesced: the first vote of a quiet poll schedules one `polls.results` broadcast
RESULTS_EVERY seconds later, counted from the database then; the votes until it ride along.
A thousand people voting in the same second cost a few broadcasts, not a thousand.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from quart import Quart

from server.platform import keys
from server.platform.errors import log_unexpected
from server.platform.node import Platform
from server.platform.sockets import Router, SocketContext
from server.polls import service as polls
from server.recording import publication

router = Router()
EXTRA = "polls"
RESULTS_EVERY = 0.5


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=4 * polls.MAX_QUESTION)
    options: list[str] = Field(max_length=4 * polls.MAX_OPTIONS)


class PollRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    poll_id: StrictInt = Field(ge=1, le=2**31 - 1)


class VoteIn(PollRef):
    option: StrictInt = Field(ge=0, le=polls.MAX_OPTIONS)


class ScreenIn(PollRef):
    shown: StrictBool


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
                poll = await polls.get_poll(db, event_id, poll_id)
                tally = await polls.counts(db, poll)
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


def _node(platform: Platform) -> tuple[Results, polls.VoteBatcher]:
    """This node's result broadcasts and vote batches (built on first use)."""
    if EXTRA not in platform.extras:
        platform.extras[EXTRA] = (Results(platform), polls.VoteBatcher(platform.db.transaction))
    return platform.extras[EXTRA]  # type: ignore[no-any-return]


def install(platform: Platform, app: Quart) -> None:
    results, ballots = _node(platform)
    app.after_serving(ballots.stop)
    app.after_serving(results.stop)
    publication.record_parts(platform).register(publication.RecordPart(
        "polls", "Omröstningar och resultat", publication.rows_part(polls.export_rows, "polls")))


async def _state(ctx: SocketContext, poll: dict[str, Any]) -> None:
    await ctx.emit("polls.state", poll, keys.event_room(ctx.event_id))


@router.on("polls.create", CreateIn)
async def create(ctx: SocketContext, data: CreateIn) -> dict[str, Any]:
    parsed = polls.parse(data.model_dump())
    async with ctx.platform.db.transaction() as db:
        poll = await polls.view(db, await polls.create(db, ctx.principal, ctx.event_id, parsed))
    await ctx.emit("polls.state", poll, keys.moderators_room(ctx.event_id))  # a draft
    return {"poll": poll}


@router.on("polls.open", PollRef)
async def open_(ctx: SocketContext, data: PollRef) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        others = await polls.listing(db, ctx.principal, ctx.event_id)
        poll = await polls.view(
            db, await polls.open_poll(db, ctx.principal, ctx.event_id, data.poll_id))
    for other in others:  # those this one closed
        if other["status"] == "open" and other["id"] != poll["id"]:
            await _state(ctx, {**other, "status": "closed"})
    await _state(ctx, poll)
    return {"poll": poll}


@router.on("polls.close", PollRef)
async def close(ctx: SocketContext, data: PollRef) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        poll = await polls.view(
            db, await polls.close_poll(db, ctx.principal, ctx.event_id, data.poll_id))
    await _state(ctx, poll)
    return {"poll": poll}


@router.on("polls.screen", ScreenIn)
async def screen(ctx: SocketContext, data: ScreenIn) -> dict[str, Any]:
    """Results on the presenter view (the hall's screen, the OBS overlay), or off it."""
    async with ctx.platform.db.transaction() as db:
        changed = await polls.put_on_screen(
            db, ctx.principal, ctx.event_id, data.poll_id, data.shown)
        views = [await polls.view(db, poll) for poll in changed]
        poll = await polls.view(db, await polls.get_poll(db, ctx.event_id, data.poll_id))
    for view in views:
        await _state(ctx, view)
    return {"poll": poll}


@router.on("polls.vote", VoteIn)
async def vote(ctx: SocketContext, data: VoteIn) -> dict[str, Any]:
    results, ballots = _node(ctx.platform)
    view = await ballots.vote(ctx.principal, ctx.event_id, data.poll_id, data.option)
    results.soon(ctx.event_id, data.poll_id)
    return {"poll": {**view, "mine": data.option}}


@router.on("polls.list", ListIn)
async def listing(ctx: SocketContext, data: ListIn) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        return {"polls": await polls.listing(db, ctx.principal, ctx.event_id)}
