"""Socket events `captions.*`: a captioner sends a line, everyone in the event gets it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.captions import service as captions
from server.platform import keys
from server.platform.sockets import Router, SocketContext

router = Router()


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=4 * captions.MAX_TEXT)


class RecentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.on("captions.send", SendIn)
async def send(ctx: SocketContext, data: SendIn) -> dict[str, Any]:
    captions.require_captioner(ctx.principal)
    captions.clean_text(data.text)
    await captions.check_rate(ctx.platform.store, ctx.principal)
    async with ctx.platform.db.transaction() as db:
        line = await captions.add_line(db, ctx.principal, ctx.event_id, data.text)
    await ctx.emit("captions.line", line, keys.event_room(ctx.event_id))
    return {"line": line}


@router.on("captions.recent", RecentIn)
async def recent(ctx: SocketContext, data: RecentIn) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        return {"lines": await captions.recent(db, ctx.event_id)}
