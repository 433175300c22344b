"""Socket events `room_media.*` of breakout rooms: parse, check the membership rule, call
server/room_media/service.py. Signalling only: the media itself flows over WebRTC to the node
that hosts the room (this one, or another found in Redis)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from server.platform import keys
from server.platform.node import Platform
from server.platform.sockets import Id, Router, SocketContext
from server.room_media.service import ROUTER, RoomMedia, RoomMediaRouter

router = Router()
MAX_SDP_CHARS = 64 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomIn(Strict):
    room_id: Id


class OfferIn(RoomIn):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)


class StateIn(RoomIn):
    audio: StrictBool
    video: StrictBool


def service_of(platform: Platform) -> RoomMediaRouter:
    return platform.need(ROUTER)


async def _checked(ctx: SocketContext, room_id: int) -> RoomMediaRouter:
    async with ctx.platform.db.session() as db:
        await RoomMedia.check(db, ctx.principal, ctx.event_id, room_id)
    return service_of(ctx.platform)


@router.on("room_media.join", RoomIn)
async def join(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    service = await _checked(ctx, data.room_id)
    await ctx.platform.sio.enter_room(ctx.sid, keys.room_media(data.room_id))
    return await service.join(ctx.principal, data.room_id, ctx.sid)


@router.on("room_media.offer", OfferIn)
async def offer(ctx: SocketContext, data: OfferIn) -> dict[str, Any]:
    service = await _checked(ctx, data.room_id)
    return await service.offer(ctx.principal, data.room_id, data.sdp)


@router.on("room_media.state", StateIn)
async def state(ctx: SocketContext, data: StateIn) -> dict[str, Any]:
    await service_of(ctx.platform).set_state(ctx.principal, data.room_id, data.audio, data.video)
    return {"audio": data.audio, "video": data.video}


@router.on("room_media.leave", RoomIn)
async def leave(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    await ctx.platform.sio.leave_room(ctx.sid, keys.room_media(data.room_id))
    await service_of(ctx.platform).leave(ctx.principal, data.room_id)
    return {"room_id": data.room_id}
