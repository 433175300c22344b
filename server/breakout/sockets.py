"""Socket events `breakout.*` (the round, moderators) and `room.*` (inside one room).

Audiences: each participant hears their own room on their registration room (every tab and
device of that person); everyone in the event hears the timer, the broadcast and "closed";
moderators hear the rooms with members. Inside a room (keys.breakout_room), joined only by
`room.enter` after the membership check, people hear who is there and raised hands.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from server.breakout import service as breakout
from server.breakout.events import PersonLeftRoom, RoomsClosed
from server.breakout.membership import room_access
from server.breakout.presence import PRESENCE, RoomPresence, people_of
from server.platform import keys
from server.platform.errors import DomainError
from server.platform.node import Platform
from server.platform.sockets import Id, Router, SocketContext

router = Router()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupIn(Strict):
    name: str = Field(max_length=120)
    regions: list[str] = Field(max_length=21)


class GroupingIn(Strict):
    strategy: str = Field("by_region", max_length=20)
    groups: list[GroupIn] = Field(default_factory=list, max_length=100)
    room_count: StrictInt | None = Field(None, ge=1, le=500)
    max_room_size: StrictInt | None = Field(None, ge=1, le=10_000)
    include_moderators: StrictBool = False


class PlanIn(Strict):
    grouping: GroupingIn = Field(default_factory=GroupingIn)
    facilitators: dict[str, StrictInt] = Field(default_factory=dict)
    without_media: list[str] = Field(default_factory=list, max_length=500)


class OpenIn(PlanIn):
    minutes: StrictInt = Field(30, ge=1, le=breakout.MAX_MINUTES)


class MinutesIn(Strict):
    minutes: StrictInt = Field(ge=1, le=breakout.MAX_MINUTES)


class TextIn(Strict):
    text: str = Field(max_length=2000)


class MoveIn(Strict):
    registration_id: Id
    room_id: Id


class TemplateIn(PlanIn):
    name: str = Field(max_length=200)


class RoomIn(Strict):
    room_id: Id


class HandIn(RoomIn):
    raised: StrictBool = True


# --------------------------------------------------------------------------- wiring


def _presence(platform: Platform) -> RoomPresence:
    return platform.need(PRESENCE)


async def on_disconnect(platform: Platform, sid: str) -> None:
    """A socket that ends leaves its room's presence (server/breakout/feature.py)."""
    room_id = (await platform.sio.get_session(sid)).get("room_id")
    if room_id:
        await _presence(platform).leave(room_id, sid)
        await announce_people(platform, room_id)


async def announce_people(platform: Platform, room_id: int) -> list[dict[str, Any]]:
    people = people_of(await _presence(platform).entries(room_id))
    await platform.sio.emit(
        "room.participants", {"room_id": room_id, "people": people}, to=keys.breakout_room(room_id)
    )
    return people


# --------------------------------------------------------------------------- the round


@router.on("breakout.state")
async def state(ctx: SocketContext, _: None) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        return await breakout.state(db, ctx.principal, ctx.event_id)


@router.on("breakout.preview", PlanIn, moderator=True)
async def preview(ctx: SocketContext, data: PlanIn) -> dict[str, Any]:
    grouping = breakout.parse_grouping(data.grouping.model_dump())
    async with ctx.platform.db.session() as db:
        persons = await breakout.people(db, ctx.event_id)
    result = breakout.plan(persons, grouping, data.facilitators)
    return {"preview": breakout.preview_view(persons, result, data.without_media)}


@router.on("breakout.open", OpenIn, moderator=True)
async def open_(ctx: SocketContext, data: OpenIn) -> dict[str, Any]:
    grouping = breakout.parse_grouping(data.grouping.model_dump())
    async with ctx.platform.db.transaction() as db:
        opened = await breakout.open_round(
            db,
            ctx.principal,
            ctx.event_id,
            grouping,
            data.facilitators,
            data.without_media,
            data.minutes,
        )
    rnd = breakout.round_view(opened.round)
    await _tell_assignments(ctx, opened, rnd)
    await _tell_moderators(ctx)
    return {
        "round": rnd,
        "rooms": [breakout.room_view(r) for r in opened.rooms],
        "assigned": len(opened.assignments),
    }


async def _tell_assignments(ctx: SocketContext, opened: breakout.Opened, rnd: Any) -> None:
    """One message per room, addressed to the registration rooms of its members."""
    members: dict[int, list[str]] = {}
    for reg_id, room_id in opened.assignments.items():
        members.setdefault(room_id, []).append(keys.registration_room(reg_id))
    for room in opened.rooms:
        if members.get(room.id):
            await ctx.platform.sio.emit(
                "breakout.assigned",
                {"round": rnd, "room": breakout.room_view(room)},
                to=members[room.id],
            )
    if opened.unplaced:  # they hear it too, so nobody waits for a room that will not come
        await ctx.platform.sio.emit(
            "breakout.assigned",
            {"round": rnd, "room": None},
            to=[keys.registration_room(r) for r in opened.unplaced],
        )


async def _tell_moderators(ctx: SocketContext) -> None:
    async with ctx.platform.db.session() as db:
        view = await breakout.state(db, ctx.principal, ctx.event_id)
    view.pop("staff_room", None)
    await ctx.emit("breakout.rooms", view, keys.moderators_room(ctx.event_id))


@router.on("breakout.extend", MinutesIn, moderator=True)
async def extend(ctx: SocketContext, data: MinutesIn) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        rnd = breakout.round_view(
            await breakout.extend(db, ctx.principal, ctx.event_id, data.minutes)
        )
    await ctx.emit("breakout.timer", {"round": rnd}, keys.event_room(ctx.event_id))
    return {"round": rnd}


@router.on("breakout.broadcast", TextIn, moderator=True)
async def broadcast(ctx: SocketContext, data: TextIn) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        rnd = breakout.round_view(
            await breakout.broadcast(db, ctx.principal, ctx.event_id, data.text)
        )
    assert rnd is not None
    await ctx.emit(
        "breakout.broadcast",
        {"text": rnd["broadcast"], "round": rnd},
        keys.event_room(ctx.event_id),
    )
    return {"round": rnd}


@router.on("breakout.close", moderator=True)
async def close(ctx: SocketContext, _: None) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        rnd, rooms = await breakout.close_round(db, ctx.principal, ctx.event_id)
    view = breakout.round_view(rnd)
    await ctx.emit("breakout.closed", {"round": view}, keys.event_room(ctx.event_id))
    await ctx.platform.events.publish(RoomsClosed(ctx.event_id, tuple(r.id for r in rooms)))
    for room in rooms:
        await ctx.platform.sio.close_room(keys.breakout_room(room.id))
        await _presence(ctx.platform).clear(room.id)
    await _tell_moderators(ctx)
    return {"round": view}


@router.on("breakout.move", MoveIn, moderator=True)
async def move(ctx: SocketContext, data: MoveIn) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        old, room, _reg = await breakout.move(
            db, ctx.principal, ctx.event_id, data.registration_id, data.room_id
        )
        rnd = breakout.round_view(await breakout.require_open(db, ctx.event_id))
    if old and old != room.id:
        await _evict(ctx.platform, old, f"participant:{data.registration_id}")
    await ctx.emit(
        "breakout.assigned",
        {"round": rnd, "room": breakout.room_view(room)},
        keys.registration_room(data.registration_id),
    )
    await _tell_moderators(ctx)
    return {"room": breakout.room_view(room)}


async def _evict(platform: Platform, room_id: int, person_key: str) -> None:
    """Take one person out of a room they no longer belong to, on every node: subscribers of
    PersonLeftRoom take their notes seats (notes bus) and their media (room media bus: hang up,
    leave keys.room_media); here every socket of theirs leaves keys.breakout_room and the
    room's presence. What they ask of the old room afterwards is refused by the membership rule
    (room.hand: by presence as well)."""
    await platform.events.publish(PersonLeftRoom(room_id, person_key))
    presence = _presence(platform)
    for sid, entry in (await presence.entries(room_id)).items():
        if entry["key"] == person_key:
            # leave_room reaches a socket on another node through the socket.io message queue
            await platform.sio.leave_room(sid, keys.breakout_room(room_id))
            await platform.sio.leave_room(sid, keys.room_media(room_id))
            await presence.leave(room_id, sid)
            await _forget_room(platform, sid, room_id)
    await announce_people(platform, room_id)


async def _forget_room(platform: Platform, sid: str, room_id: int) -> None:
    """Clear the socket's current room if this node serves it (another node's session cannot
    be reached: room.hand checks presence and membership, not only the session)."""
    try:
        session = await platform.sio.get_session(sid)
    except KeyError:
        return
    if session.get("room_id") == room_id:
        session.pop("room_id", None)
        await platform.sio.save_session(sid, session)


@router.on("breakout.templates", moderator=True)
async def templates(ctx: SocketContext, _: None) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        return {"templates": await breakout.templates(db)}


@router.on("breakout.template_save", TemplateIn, moderator=True)
async def template_save(ctx: SocketContext, data: TemplateIn) -> dict[str, Any]:
    grouping = breakout.parse_grouping(data.grouping.model_dump())
    async with ctx.platform.db.transaction() as db:
        row = await breakout.save_template(
            db, ctx.principal, data.name, grouping, data.without_media
        )
        listing = await breakout.templates(db)
    return {"template": {"id": row.id, "name": row.name}, "templates": listing}


# --------------------------------------------------------------------------- inside a room


@router.on("room.enter", RoomIn)
async def enter(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    """Join a room's socket.io room, only after the membership check."""
    async with ctx.platform.db.session() as db:
        room = await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=False)
        page = await breakout.room_page(db, room)
    await _leave_current(ctx)
    await ctx.platform.sio.enter_room(ctx.sid, keys.breakout_room(room.id))
    session = await ctx.platform.sio.get_session(ctx.sid)
    session["room_id"] = room.id
    await ctx.platform.sio.save_session(ctx.sid, session)
    await _presence(ctx.platform).enter(room.id, ctx.sid, _person(ctx))
    people = await announce_people(ctx.platform, room.id)
    return {**page, "people": people, "me": _person(ctx)["key"]}


def _person(ctx: SocketContext) -> dict[str, Any]:
    p = ctx.principal
    return {
        "key": f"{p.kind}:{p.id}",
        "name": p.name,
        "role": p.role,
        "region": p.region_code,
        "hand": False,
    }


async def _leave_current(ctx: SocketContext) -> None:
    session = await ctx.platform.sio.get_session(ctx.sid)
    room_id = session.pop("room_id", None)
    if room_id:
        await ctx.platform.sio.leave_room(ctx.sid, keys.breakout_room(room_id))
        await ctx.platform.sio.save_session(ctx.sid, session)
        await _presence(ctx.platform).leave(room_id, ctx.sid)
        await announce_people(ctx.platform, room_id)


@router.on("room.leave", RoomIn)
async def leave(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    await _leave_current(ctx)
    return {"room_id": data.room_id}


@router.on("room.hand", HandIn)
async def hand(ctx: SocketContext, data: HandIn) -> dict[str, Any]:
    session = await ctx.platform.sio.get_session(ctx.sid)
    presence = _presence(ctx.platform)
    if session.get("room_id") != data.room_id or ctx.sid not in await presence.entries(
        data.room_id
    ):  # not entered here, or taken out since (moved, closed) by any node
        raise DomainError("room.not_entered", "Gå in i rummet först.")
    async with ctx.platform.db.session() as db:
        await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=False)
    await presence.enter(data.room_id, ctx.sid, {**_person(ctx), "hand": data.raised})
    await announce_people(ctx.platform, data.room_id)
    return {"raised": data.raised}
