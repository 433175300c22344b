"""Shared notes on a node: the notes registry (rooms' documents, the notes bus between nodes)
and its socket transport, flushed and closed on shutdown."""

from __future__ import annotations

from quart import Quart

from server.breakout.events import PersonLeftRoom, RoomsClosed
from server.notes import sockets, views
from server.notes.service import REGISTRY, NotesRegistry, make_bus
from server.platform.events import SocketDisconnected
from server.platform.feature import Feature
from server.platform.node import Platform


def install(platform: Platform, app: Quart) -> None:
    settings = platform.settings
    transport = sockets.SocketTransport(platform.sio)
    notes = platform.provide(REGISTRY, NotesRegistry(
        platform.db, transport, make_bus(settings.redis_url, settings.node_id), settings.node_id))
    platform.lifecycle.add("notes transport", None, transport.close)
    platform.lifecycle.add("notes", notes.start, notes.stop)

    async def disconnected(event: SocketDisconnected) -> None:
        await notes.disconnect(event.sid)

    async def left(event: PersonLeftRoom) -> None:
        await notes.evict(event.room_id, event.person_key)

    async def closed(event: RoomsClosed) -> None:
        for room_id in event.room_ids:
            await notes.freeze(room_id)

    platform.events.subscribe(SocketDisconnected, disconnected)
    platform.events.subscribe(PersonLeftRoom, left)
    platform.events.subscribe(RoomsClosed, closed)


FEATURE = Feature("notes", sockets.router, views.notes_views, install)
