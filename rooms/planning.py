"""Breakout planning: who goes to which room, as a preview the moderator sees before opening.

Pure functions over plain data. Three strategies:

* ``by_region`` (default): one room per region that has participants;
* ``custom``: each room takes the regions listed for it, "regionvis eller i samarbete över
  länsgränserna";
* ``balanced``: N rooms of near-equal size (they differ by at most one), keeping the people of
  one region together where that does not break the balance.

Everyone given to :func:`make_plan` ends up either in a room or in ``Plan.unplaced`` with a
reason, so the preview always accounts for every participant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from rooms.errors import RoomsError
from rooms.regions import REGIONS, Region, normalise_code

TEMPLATE_VERSION = 1


class Strategy(StrEnum):
    """How participants are spread over rooms."""

    BY_REGION = "by_region"
    CUSTOM = "custom"
    BALANCED = "balanced"


class Reason(StrEnum):
    """Why a participant is not in any room of a plan."""

    NO_REGION = "no_region"
    UNKNOWN_REGION = "unknown_region"
    NO_ROOM = "no_room"
    ROOM_FULL = "room_full"
    MODERATOR = "moderator"


@dataclass(frozen=True)
class Participant:
    """A registered participant; ``region`` is a region code, or None for national/no region."""

    id: str
    name: str
    region: str | None = None
    is_moderator: bool = False


@dataclass(frozen=True)
class RoomSpec:
    """A custom room: its name and the region codes it takes."""

    name: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class Grouping:
    """The reusable part of a plan: strategy and options, without people.

    This is what a template stores, so next meeting's moderator can start from it.
    ``room_count`` is for ``balanced`` (derived from ``max_room_size`` when None).
    """

    strategy: Strategy = Strategy.BY_REGION
    groups: tuple[RoomSpec, ...] = ()
    room_count: int | None = None
    max_room_size: int | None = None
    include_moderators: bool = False


@dataclass(frozen=True)
class PlannedRoom:
    """One room of a plan. ``key`` names it for facilitators: region code, group name or number."""

    key: str
    name: str
    regions: tuple[str, ...]
    members: tuple[str, ...]
    facilitator: str | None = None


@dataclass(frozen=True)
class Unplaced:
    """A participant the plan could not place, and why."""

    participant_id: str
    reason: Reason


@dataclass(frozen=True)
class Plan:
    """The preview: rooms with members, and everyone left out with a reason."""

    rooms: tuple[PlannedRoom, ...]
    unplaced: tuple[Unplaced, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form of the preview."""
        return {
            "rooms": [_room_to_dict(room) for room in self.rooms],
            "unplaced": [
                {"participant_id": u.participant_id, "reason": u.reason.value}
                for u in self.unplaced
            ],
        }


def _room_to_dict(room: PlannedRoom) -> dict[str, Any]:
    return {
        "key": room.key,
        "name": room.name,
        "regions": list(room.regions),
        "members": list(room.members),
        "facilitator": room.facilitator,
    }


@dataclass
class _Draft:
    """A room being filled; mutable only inside this module."""

    key: str
    name: str
    regions: tuple[str, ...]
    capacity: int | None
    members: list[str] = field(default_factory=list)

    def free(self) -> float:
        return math.inf if self.capacity is None else self.capacity - len(self.members)

    def freeze(self, facilitator: str | None) -> PlannedRoom:
        return PlannedRoom(self.key, self.name, self.regions, tuple(self.members), facilitator)


# ---------------------------------------------------------------------------------------------
# Entry point


def make_plan(
    participants: Sequence[Participant],
    grouping: Grouping = Grouping(),
    facilitators: Mapping[str, str] | None = None,
    regions: Sequence[Region] = REGIONS,
) -> Plan:
    """Plan the breakout rooms.

    ``facilitators`` maps a room key to a participant id; that participant is moved into the
    room (even a moderator, even from another region: choosing a facilitator is explicit).
    Raises ``RoomsError`` with ``plan.*`` codes for input the moderator must fix.
    """
    _check_grouping(grouping, regions)
    _check_unique_ids(participants)
    known = {r.code for r in regions}
    pool, unplaced = _eligible(participants, grouping, facilitators or {}, known)
    drafts, more = _STRATEGIES[grouping.strategy](pool, grouping, regions)
    return _with_facilitators(drafts, unplaced + more, facilitators or {}, participants)


def _check_unique_ids(participants: Sequence[Participant]) -> None:
    seen: set[str] = set()
    for p in participants:
        if p.id in seen:
            raise RoomsError("plan.duplicate_participant", f"participant {p.id!r} given twice")
        seen.add(p.id)


def _eligible(
    participants: Sequence[Participant],
    grouping: Grouping,
    facilitators: Mapping[str, str],
    known: set[str],
) -> tuple[list[Participant], list[Unplaced]]:
    """Split off moderators left out and unknown regions; normalise region codes."""
    chosen = set(facilitators.values())
    pool: list[Participant] = []
    unplaced: list[Unplaced] = []
    for p in participants:
        region = normalise_code(p.region) if p.region and p.region.strip() else None
        if p.is_moderator and not grouping.include_moderators and p.id not in chosen:
            unplaced.append(Unplaced(p.id, Reason.MODERATOR))
        elif region is not None and region not in known:
            unplaced.append(Unplaced(p.id, Reason.UNKNOWN_REGION))
        else:
            pool.append(replace(p, region=region))
    return pool, unplaced


# ---------------------------------------------------------------------------------------------
# Validation of the grouping


def _check_grouping(grouping: Grouping, regions: Sequence[Region]) -> None:
    size = grouping.max_room_size
    if size is not None and size < 1:
        raise RoomsError("plan.invalid", "max_room_size must be at least 1")
    if grouping.strategy is Strategy.CUSTOM:
        _check_groups(grouping.groups, {r.code for r in regions})
    if grouping.strategy is Strategy.BALANCED:
        _check_balanced(grouping)


def _check_groups(groups: Sequence[RoomSpec], known: set[str]) -> None:
    if not groups:
        raise RoomsError("plan.invalid", "a custom grouping needs at least one room")
    names: set[str] = set()
    taken: set[str] = set()
    for spec in groups:
        if not spec.name.strip() or spec.name in names:
            raise RoomsError("plan.duplicate_room", f"room name {spec.name!r} empty or repeated")
        names.add(spec.name)
        for code in map(normalise_code, spec.regions):
            if code not in known:
                raise RoomsError("plan.unknown_region", f"unknown region code {code!r}")
            if code in taken:
                raise RoomsError("plan.region_twice", f"region {code} is in two rooms")
            taken.add(code)


def _check_balanced(grouping: Grouping) -> None:
    count = grouping.room_count
    if count is None and grouping.max_room_size is None:
        raise RoomsError("plan.invalid", "balanced rooms need a room count or a max room size")
    if count is not None and count < 1:
        raise RoomsError("plan.invalid", "room_count must be at least 1")


# ---------------------------------------------------------------------------------------------
# Strategies. Each returns the drafts and the participants it could not place.

_Result = tuple[list[_Draft], list[Unplaced]]


def _by_region(pool: list[Participant], grouping: Grouping, regions: Sequence[Region]) -> _Result:
    present = {p.region for p in pool}
    drafts = [
        _Draft(r.code, r.name, (r.code,), grouping.max_room_size)
        for r in regions
        if r.code in present
    ]
    return drafts, _fill_by_region(drafts, pool)


def _custom(pool: list[Participant], grouping: Grouping, regions: Sequence[Region]) -> _Result:
    drafts = [
        _Draft(s.name, s.name, tuple(map(normalise_code, s.regions)), grouping.max_room_size)
        for s in grouping.groups
    ]
    return drafts, _fill_by_region(drafts, pool)


def _fill_by_region(drafts: list[_Draft], pool: list[Participant]) -> list[Unplaced]:
    """Put each participant in the room taking their region, in registration order."""
    room_of = {code: d for d in drafts for code in d.regions}
    unplaced: list[Unplaced] = []
    for p in pool:
        draft = room_of.get(p.region) if p.region else None
        reason = _place(draft, p) if p.region else Reason.NO_REGION
        if reason is not None:
            unplaced.append(Unplaced(p.id, reason))
    return unplaced


def _place(draft: _Draft | None, p: Participant) -> Reason | None:
    if draft is None:
        return Reason.NO_ROOM
    if draft.free() <= 0:
        return Reason.ROOM_FULL
    draft.members.append(p.id)
    return None


def _balanced(pool: list[Participant], grouping: Grouping, regions: Sequence[Region]) -> _Result:
    """Near-equal rooms: exact target sizes first, then best-fit of whole regions into them.

    Balance wins over togetherness: a region too big for any room's remaining space is split
    across the roomiest rooms. Overflow beyond ``count * max_room_size`` is left out in
    registration order (the latest registrations first).
    """
    count = _room_count(len(pool), grouping)
    limit = count * grouping.max_room_size if grouping.max_room_size else len(pool)
    placed, overflow = pool[:limit], pool[limit:]
    drafts = [
        _Draft(str(i + 1), f"Grupp {i + 1}", (), size)
        for i, size in enumerate(_even_sizes(len(placed), count))
    ]
    for members in _blocks(placed):
        _pack(drafts, members)
    for d in drafts:
        # The even sizes were only packing targets; the hard limit is the max room size.
        d.capacity = grouping.max_room_size
        d.regions = _regions_of(d.members, placed, regions)
    return drafts, [Unplaced(p.id, Reason.ROOM_FULL) for p in overflow]


def _room_count(people: int, grouping: Grouping) -> int:
    if grouping.room_count is not None:
        return grouping.room_count
    assert grouping.max_room_size is not None  # checked by _check_balanced
    return max(1, math.ceil(people / grouping.max_room_size))


def _even_sizes(people: int, count: int) -> list[int]:
    base, extra = divmod(people, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _blocks(pool: list[Participant]) -> list[list[str]]:
    """Regions as blocks, largest first; people without region are blocks of one."""
    by_region: dict[str, list[str]] = {}
    loose: list[list[str]] = []
    for p in pool:
        if p.region is None:
            loose.append([p.id])
        else:
            by_region.setdefault(p.region, []).append(p.id)
    return sorted(by_region.values(), key=len, reverse=True) + loose


def _pack(drafts: list[_Draft], members: list[str]) -> None:
    """Best fit: the tightest room that holds the whole block, else split over the roomiest."""
    fitting = [d for d in drafts if d.free() >= len(members)]
    if fitting:
        min(fitting, key=_Draft.free).members.extend(members)
        return
    rest = list(members)
    while rest:
        roomiest = max(drafts, key=_Draft.free)
        take = int(roomiest.free())
        roomiest.members.extend(rest[:take])
        rest = rest[take:]


def _regions_of(
    members: Iterable[str], pool: list[Participant], regions: Sequence[Region]
) -> tuple[str, ...]:
    present = {p.region for p in pool if p.id in set(members)}
    return tuple(r.code for r in regions if r.code in present)


_STRATEGIES = {
    Strategy.BY_REGION: _by_region,
    Strategy.CUSTOM: _custom,
    Strategy.BALANCED: _balanced,
}


# ---------------------------------------------------------------------------------------------
# Facilitators


def _with_facilitators(
    drafts: list[_Draft],
    unplaced: list[Unplaced],
    facilitators: Mapping[str, str],
    participants: Sequence[Participant],
) -> Plan:
    """Move each facilitator into their room; bump the latest member if that overfills it."""
    by_key = {d.key: d for d in drafts}
    _check_facilitators(facilitators, by_key, {p.id for p in participants})
    chosen = set(facilitators.values())
    unplaced = [u for u in unplaced if u.participant_id not in chosen]
    for d in drafts:
        d.members = [m for m in d.members if m not in chosen]
    for key, pid in facilitators.items():
        unplaced += _seat_facilitator(by_key[key], pid)
    return Plan(tuple(d.freeze(facilitators.get(d.key)) for d in drafts), tuple(unplaced))


def _check_facilitators(
    facilitators: Mapping[str, str], by_key: Mapping[str, _Draft], ids: set[str]
) -> None:
    for key, pid in facilitators.items():
        if key not in by_key:
            raise RoomsError("plan.unknown_room", f"no room {key!r} for facilitator {pid!r}")
        if pid not in ids:
            raise RoomsError("plan.unknown_participant", f"facilitator {pid!r} not registered")
    if len(set(facilitators.values())) != len(facilitators):
        raise RoomsError("plan.invalid", "one participant cannot facilitate two rooms")


def _seat_facilitator(draft: _Draft, pid: str) -> list[Unplaced]:
    draft.members.insert(0, pid)
    if draft.free() >= 0:
        return []
    bumped = draft.members.pop()
    return [Unplaced(bumped, Reason.ROOM_FULL)]


# ---------------------------------------------------------------------------------------------
# Templates


def grouping_to_dict(grouping: Grouping) -> dict[str, Any]:
    """Serialise a grouping to plain JSON-ready data, to reuse next meeting."""
    return {
        "version": TEMPLATE_VERSION,
        "strategy": grouping.strategy.value,
        "groups": [{"name": g.name, "regions": list(g.regions)} for g in grouping.groups],
        "room_count": grouping.room_count,
        "max_room_size": grouping.max_room_size,
        "include_moderators": grouping.include_moderators,
    }


def grouping_from_dict(data: Mapping[str, Any], regions: Sequence[Region] = REGIONS) -> Grouping:
    """Load a grouping saved by :func:`grouping_to_dict`; ``plan.template_invalid`` if broken."""
    if not isinstance(data, Mapping) or data.get("version") != TEMPLATE_VERSION:
        raise RoomsError("plan.template_invalid", "not a version 1 room template")
    try:
        grouping = _parse_grouping(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise RoomsError("plan.template_invalid", f"malformed template: {exc}") from exc
    _check_grouping(grouping, regions)
    return grouping


def _parse_grouping(data: Mapping[str, Any]) -> Grouping:
    return Grouping(
        strategy=Strategy(data.get("strategy", Strategy.BY_REGION.value)),
        groups=tuple(_parse_spec(g) for g in data.get("groups") or ()),
        room_count=_optional_int(data.get("room_count")),
        max_room_size=_optional_int(data.get("max_room_size")),
        include_moderators=_strict_bool(data.get("include_moderators", False)),
    )


def _parse_spec(data: Mapping[str, Any]) -> RoomSpec:
    name, codes = data["name"], data["regions"]
    if not isinstance(name, str) or not all(isinstance(c, str) for c in codes):
        raise TypeError("a group needs a name and a list of region codes")
    return RoomSpec(name, tuple(normalise_code(c) for c in codes))


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value
