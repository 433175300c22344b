"""Breakout rooms on a node: the rooms' presence, closed on shutdown; sockets that end leave."""

from __future__ import annotations

from quart import Quart

from server.breakout import sockets, views
from server.breakout.presence import PRESENCE, make_room_presence
from server.platform.events import SocketDisconnected
from server.platform.feature import Feature
from server.platform.node import Platform


def install(platform: Platform, app: Quart) -> None:
    settings = platform.settings
    presence = platform.provide(PRESENCE, make_room_presence(settings.redis_url, settings.node_id))
    platform.lifecycle.add("breakout presence", None, presence.stop)

    async def disconnected(event: SocketDisconnected) -> None:
        await sockets.on_disconnect(platform, event.sid)

    platform.events.subscribe(SocketDisconnected, disconnected)


FEATURE = Feature("breakout", sockets.router, views.breakout_views, install, templates="breakout")
