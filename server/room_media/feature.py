"""Breakout-room media on a node: the room media router (local rooms, or the host node of each
room found in Redis), closed on shutdown; it hangs up sockets that end and follows the
breakout feature's rooms (closed, a person moved out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from quart import Quart

from server.breakout.events import PersonLeftRoom, RoomsClosed
from server.platform import keys
from server.platform.events import SocketDisconnected
from server.platform.feature import Feature
from server.platform.node import Platform
from server.platform.node_bus import NodeRequests
from server.room_media import service, sockets
from server.room_media.service import ROUTER, RoomMedia, RoomMediaRouter


def install(platform: Platform, app: Quart) -> None:
    media = platform.provide(ROUTER, build(platform))
    platform.lifecycle.add("room media", media.start, media.stop)
    platform.metrics.add_source(lambda: hosted(media))

    async def disconnected(event: SocketDisconnected) -> None:
        await media.disconnected(event.sid)

    async def closed(event: RoomsClosed) -> None:
        for room_id in event.room_ids:
            await media.close_room(room_id)

    async def left(event: PersonLeftRoom) -> None:
        await media.evict(event.room_id, event.person_key)

    platform.events.subscribe(SocketDisconnected, disconnected)
    platform.events.subscribe(RoomsClosed, closed)
    platform.events.subscribe(PersonLeftRoom, left)


def hosted(media: RoomMediaRouter) -> Iterator[Metric]:
    """For /metrics: the breakout rooms whose media this process hosts, and their people."""
    rooms = media.local.registry.rooms
    yield GaugeMetricFamily("traffpunkt_room_media_rooms",
                            "Breakout rooms whose media this process hosts", value=len(rooms))
    yield GaugeMetricFamily("traffpunkt_room_media_peers",
                            "People connected to the rooms this process hosts",
                            value=sum(len(room.participants) for room in rooms))


def build(platform: Platform) -> RoomMediaRouter:
    async def emit(name: str, data: Any, to: str) -> None:
        await platform.sio.emit(name, data, to=to)

    async def leave_room(sid: str, room: str) -> None:
        await platform.sio.leave_room(sid, room)

    settings = platform.settings
    ice = platform.media.engine.config.current_ice_servers
    bus = service.make_media_bus(settings.redis_url, settings.node_id)
    local = RoomMedia(ice, emit, keys.room_media, leave_room, bus, last_n=settings.room_last_n)
    if not settings.redis_url:
        return RoomMediaRouter(local)
    serves = platform.media.enabled
    hosts = service.RoomMediaHosts(settings.redis_url, settings.node_id, serves,
                                   platform.media.local_viewers)
    requests = NodeRequests(
        settings.redis_url, settings.node_id, serves=serves,
        channel=keys.ROOM_MEDIA_RPC_CHANNEL, no_listener=service.NO_HOST,
        unreachable=("room_media.host_unreachable",
                     "Medienoden för rummet svarade inte; försök igen."),
    )
    return RoomMediaRouter(local, hosts, requests)


FEATURE = Feature("room_media", sockets.router, None, install)
