"""Socket events `programme.*` and `presence.*`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from server.platform import keys, programme
from server.platform.sockets import Id, Router, SocketContext
from server.recording import service as recording

router = Router()


class SetCurrentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: Id | None


@router.on("programme.get")
async def get(ctx: SocketContext, _: None) -> dict[str, Any]:
    async with ctx.platform.db.session() as db:
        event = await programme.get_event_by_id(db, ctx.event_id)
    return {"programme": programme.programme_view(event)}


@router.on("programme.set_current", SetCurrentIn, moderator=True)
async def set_current(ctx: SocketContext, data: SetCurrentIn) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        await programme.set_current(db, ctx.principal, ctx.event_id, data.item_id)
        await recording.mark_chapter(db, ctx.platform, ctx.event_id, item_id=data.item_id)
    await ctx.emit("programme.current", {"item_id": data.item_id}, keys.event_room(ctx.event_id))
    return {"item_id": data.item_id}


@router.on("presence.get")
async def presence(ctx: SocketContext, _: None) -> dict[str, Any]:
    people = await ctx.platform.store.online(ctx.event_id)
    if ctx.principal.is_moderator:
        return {"count": len(people), "people": people}
    return {"count": len(people)}
