"""Socket events `feedback.*`: watching a region's response or KB's dashboard live.

Saving and submitting go over HTTP (they must work without a socket, and a form post is the
fallback); the server announces every stored change here: `feedback.saved` to the region's
co-editors, `feedback.status` to KB's dashboard.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.feedback import service as fb
from server.platform import keys
from server.platform.errors import Forbidden
from server.platform.sockets import Router, SocketContext

router = Router()


class WatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: str | None = Field(None, max_length=3)


@router.on("feedback.watch", WatchIn)
async def watch(ctx: SocketContext, data: WatchIn) -> dict[str, Any]:
    """Join the dashboard (KB staff, no region) or one region's editors (members only)."""
    if data.region_code is None:
        if not (ctx.principal.is_staff and ctx.principal.role in fb.KB_ROLES):
            raise Forbidden("Endast KB:s personal ser översikten.", key="auth.forbidden.kb_only")
        room = keys.feedback_dashboard_room(ctx.event_id)
    else:
        async with ctx.platform.db.session() as db:
            await fb.require_access(
                db,
                ctx.platform.need(fb.PORTS),
                ctx.event_id,
                ctx.principal,
                data.region_code,
                "edit",
            )
        room = keys.feedback_region_room(ctx.event_id, data.region_code)
    await ctx.platform.sio.enter_room(ctx.sid, room)
    return {"watching": data.region_code or "dashboard"}
