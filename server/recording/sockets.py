"""Socket events `recording.*`: the stage's recording state, start/stop, manual chapter marks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.platform import audit
from server.platform.errors import DomainError
from server.platform.sockets import Router, SocketContext
from server.recording import service as recording

router = Router()


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)


class AutoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.on("recording.get")
async def get(ctx: SocketContext, _: None) -> dict[str, Any]:
    return {"state": await recording.service(ctx.platform).state(ctx.event_id)}


@router.on("recording.start", Empty, moderator=True)
async def start(ctx: SocketContext, _: Empty) -> dict[str, Any]:
    return {
        "state": await recording.service(ctx.platform).start_recording(ctx.principal, ctx.event_id)
    }


@router.on("recording.stop", Empty, moderator=True)
async def stop(ctx: SocketContext, _: Empty) -> dict[str, Any]:
    return {
        "state": await recording.service(ctx.platform).stop_recording(ctx.principal, ctx.event_id)
    }


@router.on("recording.mark", MarkIn, moderator=True)
async def mark(ctx: SocketContext, data: MarkIn) -> dict[str, Any]:
    async with ctx.platform.db.transaction() as db:
        row = await recording.mark_chapter(
            db, ctx.platform, ctx.event_id, title=data.title.strip(), source="manual"
        )
        if row is None:
            raise DomainError("recording.not_active", "Scenen spelas inte in.")
        audit.record(
            db,
            ctx.principal,
            ctx.event_id,
            "recording.mark",
            f"recording:{row.recording_id}",
            title=row.title,
        )
    return {"mark": {"offset": row.offset_seconds, "title": row.title}}


@router.on("recording.auto", AutoIn, moderator=True)
async def auto(ctx: SocketContext, data: AutoIn) -> dict[str, Any]:
    result = await recording.service(ctx.platform).set_auto(ctx.principal, ctx.event_id, data.on)
    await recording.service(ctx.platform).broadcast(ctx.event_id)
    return result
