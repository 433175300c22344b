"""Socket events `webcast.*`: the stage state and its publishing token
(docs/protocol/webcast.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from server.platform import keys, programme
from server.platform.sockets import Router, SocketContext
from server.webcast import service as webcast

router = Router()


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.on("webcast.get")
async def get(ctx: SocketContext, _: None) -> dict[str, Any]:
    """State, URLs and, for moderators, when the publishing token was last rotated."""
    async with ctx.platform.db.session() as db:
        event = await programme.get_event_by_id(db, ctx.event_id)
        token = await webcast.token_info(db, ctx.event_id) if ctx.principal.is_moderator else None
    urls = webcast.stage_urls(ctx.platform.settings.media_public_url, event.slug,
                              ctx.platform.media.stage_id(event.id))
    reply = {**webcast.stage_state(ctx.platform, ctx.event_id), "urls": urls.as_dict()}
    return {**reply, "token": token} if token is not None else reply


@router.on("webcast.rotate_token", Empty, moderator=True)
async def rotate_token(ctx: SocketContext, _: Empty) -> dict[str, Any]:
    """A new WHIP bearer token, returned once to the moderator who asked; the old one dies."""
    async with ctx.platform.db.transaction() as db:
        token, rotated_at = await webcast.rotate_token(db, ctx.principal, ctx.event_id)
    info = {"rotated_at": rotated_at.isoformat(), "rotated_by": ctx.principal.name}
    await ctx.emit("webcast.token_rotated", info, keys.moderators_room(ctx.event_id))
    return {"token": token, **info}
