"""Socket events `notes.*`: the y-protocols messages of a room's shared notes, as bytes.

`notes.join` seats a connection in a room's notes (membership checked), `notes.sync` carries
one y-protocols message (sync step 1, step 2, update or awareness) either way, `notes.leave`
ends it. The work happens in server/notes/service.py; see docs/protocol/notes.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import socketio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.notes.service import REGISTRY, NotesRegistry
from server.platform import keys
from server.platform.errors import log_unexpected
from server.platform.node import Platform
from server.platform.sockets import Id, Router, SocketContext

router = Router()
BATCH_WINDOW = 0.04  # seconds a room's broadcasts may wait to leave together (SocketTransport)


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: Id


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
    their document holds it (rooms/notes_registry.py).

    Broadcasts to a room are coalesced, Nagle-style: a message to a room that has had nothing
    for `window` seconds goes out at once; what follows within the window waits for its end and
    leaves as one `notes.sync` whose `data` is a list. The cost of a broadcast is per recipient
    (a socket.io packet, a websocket frame, a task wake-up each), so 20 people typing in one
    room would otherwise cost 20 x 19 sends per keystroke pair; batching halves the sends under
    bench/notes.py's load and adds at most `window` to a keystroke's way. A batch with updates
    from several senders goes to everyone, senders included: applying one's own Yjs update or
    awareness state again changes nothing. Messages to one connection (sync replies) are never
    held back.
    """

    def __init__(self, sio: socketio.AsyncServer, window: float = BATCH_WINDOW) -> None:
        self._sio = sio
        self._window = window
        self._pending: dict[int, list[tuple[str, str | None]]] = {}
        self._last: dict[int, float] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def send(self, room_id: int, data: bytes, to: str | None, skip: str | None) -> None:
        """To one connection (`to` its sid), or to the room (`to` None) but `skip`."""
        wire = base64.b64encode(data).decode("ascii")
        if to is not None or self._window <= 0:
            await self._emit(room_id, wire, to or keys.notes_room(room_id), skip)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if room_id not in self._pending and now - self._last.get(room_id, 0.0) >= self._window:
            self._last[room_id] = now
            await self._emit(room_id, wire, keys.notes_room(room_id), skip)
            return
        self._pending.setdefault(room_id, []).append((wire, skip))
        if room_id not in self._timers:
            due = self._last.get(room_id, now) + self._window - now
            self._timers[room_id] = loop.call_later(max(0.0, due), self._flush_soon, room_id)

    def _flush_soon(self, room_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self.flush(room_id))
        self._flushing.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            log_unexpected("notes batch", failure)

    async def flush(self, room_id: int) -> None:
        """Send what waits for the room now (also on shutdown)."""
        timer = self._timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        batch = self._pending.pop(room_id, None)
        if not batch:
            return
        self._last[room_id] = asyncio.get_running_loop().time()
        skips = {skip for _, skip in batch}
        skip = skips.pop() if len(skips) == 1 else None
        wires = [wire for wire, _ in batch]
        await self._emit(room_id, wires[0] if len(wires) == 1 else wires,
                         keys.notes_room(room_id), skip)

    async def close(self) -> None:
        for room_id in list(self._pending):
            await self.flush(room_id)
        await asyncio.gather(*self._flushing, return_exceptions=True)

    async def _emit(self, room_id: int, data: str | list[str], to: str,
                    skip_sid: str | None) -> None:
        await self._sio.emit("notes.sync", {"room_id": room_id, "data": data}, to=to,
                             skip_sid=skip_sid, ignore_queue=True)

    async def enter(self, sid: str, room_id: int) -> None:
        await self._sio.enter_room(sid, keys.notes_room(room_id))

    async def leave(self, sid: str, room_id: int) -> None:
        await self._sio.leave_room(sid, keys.notes_room(room_id))


def registry(platform: Platform) -> NotesRegistry:
    return platform.need(REGISTRY)


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
