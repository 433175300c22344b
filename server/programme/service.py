"""Moving the programme forward: the current item (later also a chapter mark)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import NotFound
from server.platform.models import Event, ProgrammeItem


async def set_current(
    db: AsyncSession, actor: Principal, event_id: int, item_id: int | None
) -> Event:
    actor.require_moderator()
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    if item_id is not None:
        item = await db.get(ProgrammeItem, item_id)
        if item is None or item.event_id != event_id:
            raise NotFound("programme.not_found", "Programpunkten finns inte.")
    event.current_item_id = item_id
    audit.record(db, actor, event_id, "programme.set_current", f"item:{item_id}")
    return event
