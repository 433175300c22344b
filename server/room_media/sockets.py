"""Socket events `room_media.*` of breakout rooms: parse, check the membership rule, call
server/room_media/service.py. Signalling only: the media itself flows over WebRTC to the node
that hosts the room (this one, or another found in Redis)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from server.breakout.membership import leads_room
from server.platform import keys
from server.platform.errors import DomainError
from server.platform.node import Platform
from server.platform.sockets import Id, Router, SocketContext
from server.room_media.service import ROUTER, RoomMedia, RoomMediaRouter
from streaming.room import MAX_LAST_N, MAX_PINS

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


class ViewIn(RoomIn):
    pins: list[str] = Field(default_factory=list, max_length=MAX_PINS)
    last_n: StrictInt | None = Field(default=None, ge=0, le=MAX_LAST_N)


class AudioOnlyIn(RoomIn):
    on: StrictBool


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


@router.on("room_media.view", ViewIn)
async def view(ctx: SocketContext, data: ViewIn) -> dict[str, Any]:
    pins = [p[:64] for p in data.pins]
    return await service_of(ctx.platform).set_view(ctx.principal, data.room_id, pins, data.last_n)


@router.on("room_media.audio_only", AudioOnlyIn)
async def audio_only(ctx: SocketContext, data: AudioOnlyIn) -> dict[str, Any]:
    """The room's facilitator (or a moderator) makes the room sound only, or lifts it."""
    async with ctx.platform.db.session() as db:
        room = await RoomMedia.check(db, ctx.principal, ctx.event_id, data.room_id)
    if not leads_room(ctx.principal, room):
        raise DomainError("room_media.not_facilitator",
                          "Bara rummets samtalsledare kan göra rummet till enbart ljud.")
    return await service_of(ctx.platform).set_audio_only(ctx.principal, data.room_id, data.on)
