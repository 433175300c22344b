"""Events and their programme, as every feature reads them (by slug or id, the current item,
the programme as pages and sockets show it), and moving the programme forward."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import NotFound
from server.platform.models import Event, ProgrammeItem, Region


async def get_event(session: AsyncSession, slug: str) -> Event:
    event = await session.scalar(
        select(Event)
        .where(Event.slug == slug)
        .options(selectinload(Event.items), selectinload(Event.themes))
    )
    if event is None:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    return event


async def get_event_by_id(session: AsyncSession, event_id: int) -> Event:
    event = await session.get(
        Event, event_id, options=[selectinload(Event.items), selectinload(Event.themes)]
    )
    if event is None:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    return event


async def list_events(session: AsyncSession, include_drafts: bool = False) -> list[Event]:
    """Newest first; drafts only for staff (`include_drafts`)."""
    query = select(Event).order_by(Event.starts_at.desc())
    if not include_drafts:
        query = query.where(Event.status != "draft")
    return list(await session.scalars(query))


def visible(event: Event, staff: bool) -> Event:
    """A draft event is staff's alone: to anyone else it does not exist."""
    if event.status == "draft" and not staff:
        raise NotFound("event.not_found", "Evenemanget finns inte.")
    return event


async def regions(session: AsyncSession) -> list[Region]:
    return list(await session.scalars(select(Region).order_by(Region.name)))


def current_item(event: Event) -> ProgrammeItem | None:
    return next((i for i in event.items if i.id == event.current_item_id), None)


def programme_view(event: Event) -> dict[str, Any]:
    """The programme as JSON for the API and for socket clients."""
    return {
        "event": {"id": event.id, "slug": event.slug, "title": event.title},
        "current_item_id": event.current_item_id,
        "items": [
            {
                "id": i.id, "position": i.position, "title": i.title, "description": i.description,
                "starts_at": i.starts_at.isoformat() if i.starts_at else None,
                "duration_minutes": i.duration_minutes,
                "organisations": list(i.organisations),
                "speakers": [
                    {"name": s.name, "title": s.title, "organisation": s.organisation}
                    for s in i.speakers
                ],
            }
            for i in event.items
        ],
        "themes": [{"key": t.key, "title": t.title} for t in event.themes],
    }


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
