"""Socket events `media.*` of breakout rooms: parse, check the membership rule, call
server/room_media.py. Signalling only: the media itself flows over WebRTC to the node that hosts
the room (this one, or another found in Redis)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from quart import Quart

from server.platform import keys
from server.platform.node import Platform
from server.platform.node_bus import NodeRequests
from server.platform.sockets import Router, SocketContext
from server.room_media import service as room_media
from server.room_media.service import RoomMedia, RoomMediaRouter

router = Router()
EXTRA = "room_media"
MAX_SDP_CHARS = 64 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomIn(Strict):
    room_id: StrictInt = Field(ge=1, le=2**31 - 1)


class OfferIn(RoomIn):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)


class StateIn(RoomIn):
    audio: StrictBool
    video: StrictBool


def install(platform: Platform, app: Quart) -> RoomMediaRouter:
    """Build this node's room media, close it on shutdown, hang up sockets that disconnect."""
    service = service_of(platform)
    platform.extras.setdefault("disconnect_hooks", []).append(service.disconnected)
    app.before_serving(service.start)
    app.after_serving(service.stop)
    return service


def service_of(platform: Platform) -> RoomMediaRouter:
    """The node's room media (the breakout feature calls `evict` and `close_room` on it; both
    reach every node)."""
    if EXTRA not in platform.extras:
        async def emit(name: str, data: Any, to: str) -> None:
            await platform.sio.emit(name, data, to=to)

        async def leave_room(sid: str, room: str) -> None:
            await platform.sio.leave_room(sid, room)

        settings = platform.settings
        ice = platform.media.engine.config.ice_servers
        bus = room_media.make_media_bus(settings.redis_url, settings.node_id)
        local = RoomMedia(ice, emit, keys.room_media, leave_room, bus)
        if settings.redis_url:
            serves = platform.media.enabled
            hosts = room_media.RoomMediaHosts(settings.redis_url, settings.node_id, serves)
            requests = NodeRequests(
                settings.redis_url, settings.node_id, serves=serves,
                channel=keys.ROOM_MEDIA_RPC_CHANNEL, no_listener=room_media.NO_HOST,
                unreachable=("media.host_unreachable",
                             "Medienoden för rummet svarade inte; försök igen."),
            )
            platform.extras[EXTRA] = RoomMediaRouter(local, hosts, requests)
        else:
            platform.extras[EXTRA] = RoomMediaRouter(local)
    return platform.extras[EXTRA]  # type: ignore[no-any-return]


async def _checked(ctx: SocketContext, room_id: int) -> RoomMediaRouter:
    async with ctx.platform.db.session() as db:
        await RoomMedia.check(db, ctx.principal, ctx.event_id, room_id)
    return service_of(ctx.platform)


@router.on("media.join", RoomIn)
async def join(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    service = await _checked(ctx, data.room_id)
    await ctx.platform.sio.enter_room(ctx.sid, keys.room_media(data.room_id))
    return await service.join(ctx.principal, data.room_id, ctx.sid)


@router.on("media.offer", OfferIn)
async def offer(ctx: SocketContext, data: OfferIn) -> dict[str, Any]:
    service = await _checked(ctx, data.room_id)
    return await service.offer(ctx.principal, data.room_id, data.sdp)


@router.on("media.state", StateIn)
async def state(ctx: SocketContext, data: StateIn) -> dict[str, Any]:
    await service_of(ctx.platform).set_state(ctx.principal, data.room_id, data.audio, data.video)
    return {"audio": data.audio, "video": data.video}


@router.on("media.leave", RoomIn)
async def leave(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    await ctx.platform.sio.leave_room(ctx.sid, keys.room_media(data.room_id))
    await service_of(ctx.platform).leave(ctx.principal, data.room_id)
    return {"room_id": data.room_id}
