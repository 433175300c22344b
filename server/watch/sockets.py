"""Socket events `watch.*`: the shared player of one room (service.py says who may do what).
A change is stored, then sent to everyone in the room (`watch.state`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.breakout.membership import leads_room, room_access
from server.platform import keys
from server.platform.sockets import Id, Router, SocketContext
from server.platform.store import require_rate
from server.watch import service

router = Router()
CONTROLS_PER_MINUTE = 60


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: Id


class ControlIn(RoomIn):
    action: Literal["start", "play", "pause", "seek", "stop"]
    publication_id: Id | None = None
    position: float | None = Field(None, ge=0, le=service.MAX_POSITION, allow_inf_nan=False)


@router.on("watch.state", RoomIn)
async def state(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    """Where the room's film is now, the films a leader can choose, and whether the caller
    leads the room."""
    async with ctx.platform.db.session() as db:
        room = await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=False)
        leads = leads_room(ctx.principal, room)
        return {"state": await service.state(db, room.id), "leads": leads,
                "films": await service.films(db, ctx.event_id) if leads else []}


@router.on("watch.control", ControlIn)
async def control(ctx: SocketContext, data: ControlIn) -> dict[str, Any]:
    await require_rate(ctx.platform.store, "watch.control", ctx.principal, CONTROLS_PER_MINUTE,
                       60, "watch.rate_limited", "För många ändringar. Vänta en stund.")
    async with ctx.platform.db.transaction() as db:
        room = await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=True)
        new = await service.control(db, ctx.principal, room, data.action, data.publication_id,
                                    data.position)
    await ctx.emit("watch.state", {**new, "room_id": data.room_id},
                   keys.breakout_room(data.room_id))
    return {"state": new}
