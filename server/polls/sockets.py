"""Socket events `polls.*`: moderators create, open and close polls; participants vote.

A change of state (`polls.state`, the whole poll) goes to everyone in the event at once. Votes
are batched and their results coalesced (server/polls/service.py): a thousand people voting in
the same second cost a few broadcasts, not a thousand.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from server.platform import keys
from server.platform.sockets import Id, Router, SocketContext
from server.polls import service as polls

router = Router()


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=4 * polls.MAX_QUESTION)
    options: list[str] = Field(max_length=4 * polls.MAX_OPTIONS)


class PollRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    poll_id: Id


class VoteIn(PollRef):
    option: StrictInt = Field(ge=0, le=polls.MAX_OPTIONS)


class ScreenIn(PollRef):
    shown: StrictBool


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    results, ballots = ctx.platform.need(polls.RESULTS), ctx.platform.need(polls.BALLOTS)
    view = await ballots.vote(ctx.principal, ctx.event_id, data.poll_id, data.option)
    results.soon(ctx.event_id, data.poll_id)
    return {"poll": {**view, "mine": data.option}}


@router.on("polls.list", ListIn)
async def listing(ctx: SocketContext, data: ListIn) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        return {"polls": await polls.listing(db, ctx.principal, ctx.event_id)}

