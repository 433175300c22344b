"""Socket events `notes.*`: the y-protocols messages of a room's shared notes, as bytes.

`notes.join` seats a connection in a room's notes (membership checked), `notes.sync` carries
one y-protocols message (sync step 1, step 2, update or awareness) either way, `notes.leave`
ends it. The work happens in server/notes.py; see docs/protocol/notes.md.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import socketio
from pydantic import BaseModel, ConfigDict, Field, field_validator
from quart import Quart

from .. import keys
from ..feedback import FeedbackPorts, RegistrationMembership
from ..notes import NotesRegistry, StoredNotesSource, make_bus
from ..platform import Platform
from . import Router, SocketContext

router = Router()
EXTRA = "notes"


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: int = Field(ge=1)


class SyncIn(RoomIn):
    """One y-protocols message, base64 in a text frame.

    Why not socket.io binary attachments: an attachment travels as a second websocket frame after
    its header, doubling the frames per keystroke, and python-socketio's client handles frames in
    separate tasks, so header and attachment of two messages can be paired wrongly under load.
    """

    data: bytes = Field(max_length=100_000)

    @field_validator("data", mode="before")
    @classmethod
    def _base64(cls, value: object) -> bytes:
        if not isinstance(value, str):
            raise ValueError("data must be a base64 string")
        return decode_b64(value)


def decode_b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("data is not valid base64") from exc


class SocketTransport:
    """`NotesRegistry`'s view of socket.io: this node's connections only (`ignore_queue`).

    Other nodes hear of an update through the notes bus and tell their own connections once
    their document holds it (server/notes.py).
    """

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def send(self, room_id: int, data: bytes, to: str, skip_sid: str | None) -> None:
        wire = base64.b64encode(data).decode("ascii")
        await self._sio.emit("notes.sync", {"room_id": room_id, "data": wire}, to=to,
                             skip_sid=skip_sid, ignore_queue=True)

    async def enter(self, sid: str, room_id: int) -> None:
        await self._sio.enter_room(sid, keys.notes_room(room_id))

    async def leave(self, sid: str, room_id: int) -> None:
        await self._sio.leave_room(sid, keys.notes_room(room_id))


def registry(platform: Platform) -> NotesRegistry:
    return platform.extras[EXTRA]  # type: ignore[no-any-return]


def install(platform: Platform, app: Quart) -> NotesRegistry:
    """Build the node's notes registry, own it for the app's lifetime, hear disconnects."""
    settings = platform.settings
    notes = NotesRegistry(platform.db, SocketTransport(platform.sio),
                          make_bus(settings.redis_url, settings.node_id), settings.node_id)
    platform.extras[EXTRA] = notes
    # Feedback's "pull the room's notes into an answer" reads the stored notes.
    platform.extras["feedback"] = FeedbackPorts(RegistrationMembership(), StoredNotesSource(
        platform.db, notes.storage.flush))
    platform.extras.setdefault("disconnect_hooks", []).append(notes.disconnect)
    app.before_serving(notes.start)
    app.after_serving(notes.stop)
    return notes


@router.on("notes.join", RoomIn)
async def join(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    joined = await registry(ctx.platform).join(ctx.sid, ctx.principal, ctx.event_id, data.room_id)
    return {"room_id": joined.room_id, "name": joined.name, "themes": joined.themes,
            "writable": joined.writable, "user": ctx.principal.name}


@router.on("notes.sync", SyncIn)
async def sync(ctx: SocketContext, data: SyncIn) -> dict[str, Any]:
    await registry(ctx.platform).receive(ctx.sid, data.room_id, data.data)
    return {}


@router.on("notes.leave", RoomIn)
async def leave(ctx: SocketContext, data: RoomIn) -> dict[str, Any]:
    await registry(ctx.platform).leave(ctx.sid, data.room_id)
    return {}
