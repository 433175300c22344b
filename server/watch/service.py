"""The shared player of a room: who may start and stop it (the room's leaders: its facilitator,
the region's staff facilitators, moderators), who may play, pause and seek (everyone in the
room: the group watches together), and the one state every player follows.

The state is a row (WatchSession), so every node and a restarted node agree, and a late joiner
reads where the film is now: `position + (now - updated_at)` while playing. Each change is sent
to the room with the server's clock; players correct their drift against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.membership import leads_room
from server.breakout.models import BreakoutRoom
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden
from server.platform.models import utcnow
from server.recording.models import Publication, Recording
from server.watch.models import WatchSession

MAX_POSITION = 24 * 3600.0
Action = Literal["start", "play", "pause", "seek", "stop"]


def now_position(row: WatchSession, now: datetime | None = None) -> float:
    """Where the film is at `now`."""
    if not row.playing:
        return row.position
    elapsed = ((now or utcnow()) - row.updated_at).total_seconds()
    return min(row.position + max(elapsed, 0.0), MAX_POSITION)


def view(row: WatchSession | None, pub: Publication | None) -> dict[str, Any]:
    """The state players follow (`active` False: nothing is being watched)."""
    now = utcnow()
    if row is None or pub is None:
        return {"active": False, "server_time": now.isoformat()}
    return {
        "active": True, "room_id": row.room_id, "publication_id": pub.id, "title": pub.title,
        "media": f"/play/{pub.id}/media/", "position": round(now_position(row, now), 3),
        "playing": row.playing, "server_time": now.isoformat(), "by": row.updated_by,
    }


async def state(db: AsyncSession, room_id: int) -> dict[str, Any]:
    row = await db.get(WatchSession, room_id)
    pub = await db.get(Publication, row.publication_id) if row else None
    return view(row, pub)


async def films(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """The event's published films a room can watch, newest first."""
    rows = await db.scalars(
        select(Publication).join(Recording, Recording.id == Publication.recording_id)
        .where(Recording.event_id == event_id, Publication.status == "published")
        .order_by(Publication.published_at.desc(), Publication.id.desc()))
    return [{"id": p.id, "title": p.title} for p in rows]


async def control(db: AsyncSession, principal: Principal, room: BreakoutRoom, action: Action,
                  publication_id: int | None, position: float | None) -> dict[str, Any]:
    """Change the room's player; returns the new state (the caller sends it to the room)."""
    row = await db.get(WatchSession, room.id, with_for_update=True)
    if action in ("start", "stop") and not leads_room(principal, room):
        raise Forbidden("Bara samtalsledaren kan välja vad rummet ser.",
                        key="watch.leaders_only")
    if action == "stop":
        if row is not None:
            await db.delete(row)
        return view(None, None)
    if action == "start":
        pub = await _film(db, room.event_id, publication_id)
        if row is None:
            row = WatchSession(room_id=room.id, publication_id=pub.id)
            db.add(row)
        row.publication_id, row.position, row.playing = pub.id, _at(position or 0.0), False
    elif row is None:
        raise DomainError("watch.nothing", "Rummet tittar inte på något just nu.")
    elif action == "play":
        row.position, row.playing = _at(position) if position is not None \
            else now_position(row), True
    elif action == "pause":
        row.position, row.playing = _at(position) if position is not None \
            else now_position(row), False
    else:  # seek: keeps playing or paused
        if position is None:
            raise DomainError("watch.position", "Ange en tidpunkt i filmen.")
        row.position = _at(position)
    row.updated_at, row.updated_by = utcnow(), principal.name[:120]
    await db.flush()
    return view(row, await db.get(Publication, row.publication_id))


async def _film(db: AsyncSession, event_id: int, publication_id: int | None) -> Publication:
    pub = await db.get(Publication, publication_id) if publication_id else None
    recording = await db.get(Recording, pub.recording_id) if pub else None
    if pub is None or recording is None or recording.event_id != event_id \
            or pub.status != "published":
        raise DomainError("watch.no_film", "Filmen finns inte eller är inte publicerad.")
    return pub


def _at(position: float) -> float:
    if not 0.0 <= position <= MAX_POSITION:
        raise DomainError("watch.position", "Ange en tidpunkt i filmen.")
    return float(position)
