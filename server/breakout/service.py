"""Breakout rounds: preview a plan, open it, move people, extend, broadcast, close.

The planning itself is pure (rooms/planning.py); this module feeds it the event's
registrations and staff, stores what was opened (rounds, rooms, assignments: the source of
truth after a restart or a dropped connection) and answers "where am I?". It never emits:
the socket layer (server/sockets/breakout.py) decides who hears what.

Planning ids are strings: ``r<registration id>`` for participants and ``u<user id>`` for
staff (moderators, admins, facilitators), so a preview can include or leave out moderators.
Staff placements are kept in the round's grouping JSON (assignments reference registrations);
staff may visit any room anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.errors import RoomsError
from rooms.planning import (
    Grouping,
    Participant,
    Plan,
    grouping_from_dict,
    grouping_to_dict,
    make_plan,
)
from rooms.regions import REGIONS
from server.breakout.membership import current_room_of
from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound, BreakoutTemplate
from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import DomainError
from server.platform.models import Registration, User, utcnow
from server.platform.roles import staff_with_role

STAFF_IN_PLANS = ("admin", "moderator", "facilitator")
MAX_MINUTES = 240
MAX_BROADCAST = 500
REGION_NAMES = {r.code: r.name for r in REGIONS}


@dataclass(frozen=True)
class Person:
    """Someone a plan can place: a registration or a staff user."""

    pid: str
    name: str
    region: str | None
    attendance: str = "online"
    staff: bool = False

    def as_participant(self) -> Participant:
        return Participant(self.pid, self.name, self.region, self.staff)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.pid,
            "name": self.name,
            "region": self.region,
            "attendance": self.attendance,
            "staff": self.staff,
        }


@dataclass(frozen=True)
class Opened:
    """What opening a round stored: the socket layer tells each participant their room."""

    round: BreakoutRound
    rooms: list[BreakoutRoom]
    assignments: dict[int, int] = field(default_factory=dict)  # registration id -> room id
    unplaced: list[int] = field(default_factory=list)  # registration ids left without a room


# --------------------------------------------------------------------------- planning input


def parse_grouping(data: Mapping[str, Any]) -> Grouping:
    """A grouping from the console (template format); `breakout.plan_invalid` if broken."""
    try:
        return grouping_from_dict({"version": 1, **data})
    except RoomsError as exc:
        raise _plan_error(exc) from exc


def _plan_error(exc: RoomsError) -> DomainError:
    """Keyed by the rooms code (`breakout.plan.invalid`); the engine's English reason, which
    names the offending room or region, stays in `details`."""
    return DomainError(f"breakout.{exc.code}", exc.message, reason=exc.message)


async def people(db: AsyncSession, event_id: int) -> list[Person]:
    """Everyone a plan accounts for, in registration order, staff last."""
    # Plain columns, not ORM objects: a full event is a thousand rows on the path of "open".
    regs = await db.execute(
        select(
            Registration.id, Registration.name, Registration.region_code, Registration.attendance
        )
        .where(Registration.event_id == event_id)
        .order_by(Registration.id)
    )
    users = await db.execute(staff_with_role(event_id, STAFF_IN_PLANS).order_by(None)
                             .order_by(User.id))
    return [Person(f"r{i}", name, region, attendance) for i, name, region, attendance in regs] + [
        Person(f"u{i}", name, None, "online", True) for i, name in users
    ]


def plan(persons: list[Person], grouping: Grouping, facilitators: Mapping[str, int]) -> Plan:
    """The pure plan; facilitators map a room key to a registration id."""
    chosen = {key: f"r{rid}" for key, rid in facilitators.items()}
    try:
        return make_plan([p.as_participant() for p in persons], grouping, chosen)
    except RoomsError as exc:
        raise _plan_error(exc) from exc


def preview_view(
    persons: list[Person], result: Plan, without_media: Iterable[str] = ()
) -> dict[str, Any]:
    """The preview a moderator sees: rooms with counts and members, and who is unplaced why."""
    by_id = {p.pid: p for p in persons}
    no_media = set(without_media)
    rooms = [_planned_room_view(room, by_id, no_media) for room in result.rooms]
    unplaced = [
        {**by_id[u.participant_id].view(), "reason": u.reason.value} for u in result.unplaced
    ]
    placed = sum(r["count"] for r in rooms)
    return {
        "rooms": rooms,
        "unplaced": unplaced,
        "totals": {"people": len(persons), "placed": placed, "unplaced": len(unplaced)},
    }


def _planned_room_view(
    room: Any, by_id: Mapping[str, Person], no_media: set[str]
) -> dict[str, Any]:
    members = [by_id[m] for m in room.members]
    on_site = sum(1 for m in members if m.attendance == "on_site")
    all_on_site = bool(members) and on_site == len(members)
    facilitator = by_id.get(room.facilitator) if room.facilitator else None
    return {
        "key": room.key,
        "name": room.name,
        "regions": list(room.regions),
        "count": len(members),
        "on_site": on_site,
        "staff": sum(1 for m in members if m.staff),
        "members": [m.view() for m in members],
        "facilitator": facilitator.view() if facilitator else None,
        "media": room.key not in no_media,
        "all_on_site": all_on_site,
    }


# --------------------------------------------------------------------------- rounds


async def open_round_of(db: AsyncSession, event_id: int) -> BreakoutRound | None:
    return await db.scalar(
        select(BreakoutRound).where(
            BreakoutRound.event_id == event_id, BreakoutRound.status == "open",
            BreakoutRound.kind == "day",
        )
    )


async def require_open(db: AsyncSession, event_id: int) -> BreakoutRound:
    current = await open_round_of(db, event_id)
    if current is None:
        raise DomainError("breakout.not_open", "Inga grupprum är öppna.")
    return current


async def rooms_of(db: AsyncSession, round_id: int) -> list[BreakoutRoom]:
    return list(
        await db.scalars(
            select(BreakoutRoom)
            .where(BreakoutRoom.round_id == round_id)
            .order_by(BreakoutRoom.position)
        )
    )


async def open_round(
    db: AsyncSession,
    actor: Principal,
    event_id: int,
    grouping: Grouping,
    facilitators: Mapping[str, int],
    without_media: Iterable[str],
    minutes: int,
) -> Opened:
    """Store the plan as an open round with its rooms and assignments, in one transaction."""
    if await open_round_of(db, event_id) is not None:
        raise DomainError("breakout.already_open", "Grupprummen är redan öppna.")
    persons = await people(db, event_id)
    result = plan(persons, grouping, facilitators)
    view = preview_view(persons, result, without_media)
    media = {r["key"]: r["media"] for r in view["rooms"]}
    opened = await _store_round(db, event_id, grouping, result, media, minutes)
    opened.unplaced.extend(
        int(u.participant_id[1:]) for u in result.unplaced if u.participant_id[0] == "r"
    )
    audit.record(
        db,
        actor,
        event_id,
        "breakout.open",
        f"round:{opened.round.id}",
        rooms=len(opened.rooms),
        assigned=len(opened.assignments),
    )
    return opened


async def _store_round(
    db: AsyncSession,
    event_id: int,
    grouping: Grouping,
    result: Plan,
    media: Mapping[str, bool],
    minutes: int,
) -> Opened:
    now = utcnow()
    staff = {m[1:]: room.key for room in result.rooms for m in room.members if m[0] == "u"}
    stored = {
        **grouping_to_dict(grouping),
        "without_media": [k for k, on in media.items() if not on],
        "staff": staff,
    }
    rnd = BreakoutRound(
        event_id=event_id,
        status="open",
        grouping=stored,
        opened_at=now,
        ends_at=now + timedelta(minutes=_minutes(minutes)),
        broadcast="",
    )
    db.add(rnd)
    await db.flush()
    rooms = [
        _room_row(rnd, event_id, i, room, media[room.key]) for i, room in enumerate(result.rooms)
    ]
    db.add_all(rooms)
    await db.flush()
    assignments = _assignments(result, {r.key: r.id for r in rooms})
    if assignments:
        await db.execute(
            insert(BreakoutAssignment),
            [
                {"round_id": rnd.id, "registration_id": reg, "room_id": room}
                for reg, room in assignments.items()
            ],
        )
    return Opened(rnd, rooms, assignments)


def _room_row(
    rnd: BreakoutRound, event_id: int, position: int, room: Any, media: bool
) -> BreakoutRoom:
    facilitator = int(room.facilitator[1:]) if room.facilitator else None
    return BreakoutRoom(
        round_id=rnd.id,
        event_id=event_id,
        key=room.key[:80],
        name=room.name[:120],
        regions=list(room.regions),
        facilitator_id=facilitator,
        media=media,
        position=position,
    )


def _assignments(result: Plan, ids: Mapping[str, int]) -> dict[int, int]:
    return {int(m[1:]): ids[room.key] for room in result.rooms for m in room.members if m[0] == "r"}


def _minutes(minutes: int) -> int:
    if not 1 <= minutes <= MAX_MINUTES:
        raise DomainError(
            "breakout.minutes_invalid", f"Ange 1–{MAX_MINUTES} minuter.", max=MAX_MINUTES
        )
    return minutes


async def extend(db: AsyncSession, actor: Principal, event_id: int, minutes: int) -> BreakoutRound:
    """Add minutes to the timer (from now if it has already run out)."""
    rnd = await require_open(db, event_id)
    base = max(rnd.ends_at or utcnow(), utcnow())
    rnd.ends_at = base + timedelta(minutes=_minutes(minutes))
    audit.record(db, actor, event_id, "breakout.extend", f"round:{rnd.id}", minutes=minutes)
    return rnd


async def broadcast(db: AsyncSession, actor: Principal, event_id: int, text: str) -> BreakoutRound:
    """The moderators' message shown in every room (kept on the round for late joiners)."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_BROADCAST:
        raise DomainError(
            "breakout.text_invalid", f"Meddelandet måste ha 1–{MAX_BROADCAST} tecken.",
            max=MAX_BROADCAST,
        )
    rnd = await require_open(db, event_id)
    rnd.broadcast = text
    audit.record(db, actor, event_id, "breakout.broadcast", f"round:{rnd.id}", text=text)
    return rnd


async def close_round(
    db: AsyncSession, actor: Principal, event_id: int
) -> tuple[BreakoutRound, list[BreakoutRoom]]:
    """Close the open round. Rooms, assignments, chat and notes are kept."""
    rnd = await require_open(db, event_id)
    rnd.status = "closed"
    rnd.closed_at = utcnow()
    audit.record(db, actor, event_id, "breakout.close", f"round:{rnd.id}")
    return rnd, await rooms_of(db, rnd.id)


async def move(
    db: AsyncSession, actor: Principal, event_id: int, registration_id: int, room_id: int
) -> tuple[int | None, BreakoutRoom, Registration]:
    """Move one participant to another room of the open round; returns their old room id."""
    rnd = await require_open(db, event_id)
    room = await db.get(BreakoutRoom, room_id)
    reg = await db.get(Registration, registration_id)
    if room is None or room.round_id != rnd.id:
        raise DomainError("room.not_found", "Rummet finns inte.")
    if reg is None or reg.event_id != event_id:
        raise DomainError("breakout.participant_not_found", "Deltagaren finns inte.")
    old = await current_room_of(db, registration_id, rnd.id)
    await db.execute(
        delete(BreakoutAssignment).where(
            BreakoutAssignment.round_id == rnd.id,
            BreakoutAssignment.registration_id == registration_id,
        )
    )
    db.add(BreakoutAssignment(round_id=rnd.id, registration_id=registration_id, room_id=room_id))
    audit.record(
        db,
        actor,
        event_id,
        "breakout.move",
        f"registration:{registration_id}",
        room_id=room_id,
        from_room_id=old,
    )
    return old, room, reg


# --------------------------------------------------------------------------- views


def round_view(rnd: BreakoutRound | None) -> dict[str, Any] | None:
    if rnd is None:
        return None
    return {
        "id": rnd.id,
        "status": rnd.status,
        "broadcast": rnd.broadcast,
        "ends_at": rnd.ends_at.isoformat() if rnd.ends_at else None,
    }


def room_view(room: BreakoutRoom) -> dict[str, Any]:
    return {
        "id": room.id,
        "key": room.key,
        "name": room.name,
        "regions": list(room.regions),
        "region_names": [REGION_NAMES.get(c, c) for c in room.regions],
        "media": room.media,
        "facilitator_id": room.facilitator_id,
    }


ROOM_LIST_ROLES = frozenset({"archivist", "facilitator"})
"""Staff who see the round's rooms (archivists read their notes, a staff facilitator finds
their own); speakers and captioners see no rooms at all, and only moderators see members."""


async def state(db: AsyncSession, principal: Principal, event_id: int) -> dict[str, Any]:
    """Where the caller stands: the open round (if any), a participant's own room, and the
    rooms as far as the caller's role needs them (ROOM_LIST_ROLES)."""
    rnd = await open_round_of(db, event_id)
    out: dict[str, Any] = {"round": round_view(rnd), "room": None}
    if rnd is None:
        return out
    if principal.kind == "participant":
        room_id = await current_room_of(db, principal.id, rnd.id)
        room = await db.get(BreakoutRoom, room_id) if room_id else None
        out["room"] = room_view(room) if room else None
    if principal.is_moderator:  # they run the rooms: who is where
        out["rooms"] = await _rooms_with_members(db, rnd)
        out["staff_room"] = _staff_room(rnd, principal, out["rooms"])
    elif principal.is_staff and principal.role in ROOM_LIST_ROLES:  # which rooms, not who
        out["rooms"] = [room_view(r) for r in await rooms_of(db, rnd.id)]
        out["staff_room"] = _staff_room(rnd, principal, out["rooms"])
    return out


async def _rooms_with_members(db: AsyncSession, rnd: BreakoutRound) -> list[dict[str, Any]]:
    rooms = await rooms_of(db, rnd.id)
    rows = await db.execute(
        select(
            BreakoutAssignment.room_id, Registration.id, Registration.name, Registration.region_code
        )
        .join(Registration, Registration.id == BreakoutAssignment.registration_id)
        .where(BreakoutAssignment.round_id == rnd.id)
        .order_by(Registration.name)
    )
    members: dict[int, list[dict[str, Any]]] = {}
    for room_id, rid, name, region in rows:
        members.setdefault(room_id, []).append({"id": rid, "name": name, "region": region})
    return [{**room_view(r), "members": members.get(r.id, [])} for r in rooms]


def _staff_room(
    rnd: BreakoutRound, principal: Principal, rooms: list[dict[str, Any]]
) -> int | None:
    """The room the plan put a staff member in, else the first room of a region they lead."""
    key = (rnd.grouping or {}).get("staff", {}).get(str(principal.id))
    placed = next((r["id"] for r in rooms if r["key"] == key), None)
    return placed or next((r["id"] for r in rooms
                           if any(principal.leads_region(rnd.event_id, c) for c in r["regions"])),
                          None)


async def room_page(db: AsyncSession, room: BreakoutRoom) -> dict[str, Any]:
    """What the room page shows before its socket connects."""
    rnd = await db.get(BreakoutRound, room.round_id)
    facilitator = await db.get(Registration, room.facilitator_id) if room.facilitator_id else None
    return {
        "room": room_view(room),
        "round": round_view(rnd),
        "facilitator": facilitator.name if facilitator else None,
    }


# --------------------------------------------------------------------------- templates


async def save_template(
    db: AsyncSession, actor: Principal, name: str, grouping: Grouping, without_media: Iterable[str]
) -> BreakoutTemplate:
    """Save (or overwrite) a named grouping for the next meeting."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise DomainError("breakout.template_name", "Ange ett namn på 1–120 tecken.")
    data = {**grouping_to_dict(grouping), "without_media": sorted(set(without_media))}
    row = await db.scalar(select(BreakoutTemplate).where(BreakoutTemplate.name == name))
    if row is None:
        row = BreakoutTemplate(name=name, grouping=data)
        db.add(row)
    else:
        row.grouping = data
    await db.flush()
    audit.record(db, actor, None, "breakout.template_save", f"template:{row.id}", name=name)
    return row


async def templates(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.scalars(select(BreakoutTemplate).order_by(BreakoutTemplate.name))
    return [{"id": r.id, "name": r.name, "grouping": r.grouping} for r in rows]
