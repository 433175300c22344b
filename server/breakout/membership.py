"""Who may enter a breakout room: the one rule every room feature (media, chat, notes) checks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutAssignment, BreakoutRoom
from server.platform.auth import Principal
from server.platform.errors import DomainError

READERS = frozenset({"admin", "moderator", "archivist"})


async def room_access(
    db: AsyncSession, principal: Principal, event_id: int, room_id: int, *, write: bool = True
) -> BreakoutRoom:
    """The room, if the caller may use it; `room.not_member` otherwise.

    Members are the participants assigned to the room and its facilitator, and the staff
    facilitators an admin gave one of the room's regions (roles per event). Moderators and
    admins may visit any room of the event; archivists may read (notes, chat) but not write.
    """
    room = await db.get(BreakoutRoom, room_id)
    if room is None or room.event_id != event_id:
        raise DomainError("room.not_found", "Rummet finns inte.")
    if principal.is_moderator or (not write and principal.is_staff and principal.role in READERS):
        return room
    if leads_regions_of(principal, room):
        return room
    if principal.kind == "participant" and await _is_member(db, principal.id, room):
        return room
    raise DomainError("room.not_member", "Du är inte tilldelad det här rummet.")


async def _is_member(db: AsyncSession, registration_id: int, room: BreakoutRoom) -> bool:
    if room.facilitator_id == registration_id:
        return True
    found = await db.scalar(select(BreakoutAssignment.room_id).where(
        BreakoutAssignment.room_id == room.id,
        BreakoutAssignment.registration_id == registration_id,
    ))
    return found is not None


async def current_room_of(db: AsyncSession, registration_id: int, round_id: int) -> int | None:
    return await db.scalar(select(BreakoutAssignment.room_id).where(
        BreakoutAssignment.round_id == round_id,
        BreakoutAssignment.registration_id == registration_id,
    ))


def leads_room(principal: Principal, room: BreakoutRoom) -> bool:
    """Who runs a room (its audio-only switch): its facilitator, or a moderator."""
    return principal.is_moderator or leads_regions_of(principal, room) or (
        principal.kind == "participant" and room.facilitator_id == principal.id)


def leads_regions_of(principal: Principal, room: BreakoutRoom) -> bool:
    """A staff facilitator of one of the room's regions at its event."""
    return any(principal.leads_region(room.event_id, code) for code in room.regions or ())
