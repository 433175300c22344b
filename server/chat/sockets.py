"""Socket events `chat.*`: the text chat of one breakout room.

Both reading and writing go through the one membership rule (server/membership.py); a message
is stored first and then sent to the room's socket.io room (keys.breakout_room).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.breakout.membership import room_access
from server.chat import service as chat
from server.platform import keys
from server.platform.sockets import Id, Router, SocketContext

router = Router()


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: Id


class SendIn(HistoryIn):
    text: str = Field(max_length=4 * chat.MAX_TEXT)


@router.on("chat.send", SendIn)
async def send(ctx: SocketContext, data: SendIn) -> dict[str, Any]:
    chat.clean_text(data.text)
    async with ctx.platform.db.transaction() as db:
        room = await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=True)
        await chat.check_rate(ctx.platform.store, ctx.principal)
        message = chat.message_view(await chat.send(db, ctx.principal, room, data.text))
    await ctx.emit("chat.message", message, keys.breakout_room(data.room_id))
    return {"message": message}


@router.on("chat.history", HistoryIn)
async def history(ctx: SocketContext, data: HistoryIn) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        await room_access(db, ctx.principal, ctx.event_id, data.room_id, write=False)
        return {"messages": await chat.history(db, data.room_id)}
