"""Breakout planning: the preview a moderator sees before opening the rooms."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from rooms.errors import RoomsError
from rooms.planning import (
    Grouping,
    Participant,
    Plan,
    Reason,
    RoomSpec,
    Strategy,
    grouping_from_dict,
    grouping_to_dict,
    make_plan,
)
from rooms.regions import REGIONS


def people(spec: str) -> list[Participant]:
    """``"AB AB M - *BD"``: one participant per token, ``-`` no region, ``*`` moderator."""
    out = []
    for i, token in enumerate(spec.split()):
        region = token.lstrip("*")
        out.append(Participant(f"p{i}", f"Person {i}", None if region == "-" else region,
                               token.startswith("*")))
    return out


def rooms_of(plan: Plan) -> dict[str, list[str]]:
    return {room.key: list(room.members) for room in plan.rooms}


def reasons(plan: Plan) -> dict[str, str]:
    return {u.participant_id: u.reason.value for u in plan.unplaced}


def accounts_for_everyone(plan: Plan, participants: list[Participant]) -> bool:
    placed = [m for room in plan.rooms for m in room.members]
    left = [u.participant_id for u in plan.unplaced]
    return sorted(placed + left) == sorted(p.id for p in participants)


BY_REGION_CASES: list[tuple[str, str, Grouping, dict[str, list[str]], dict[str, str]]] = [
    ("empty input", "", Grouping(), {}, {}),
    ("one person in a region", "I", Grouping(), {"I": ["p0"]}, {}),
    ("two regions, official order", "M AB M", Grouping(),
     {"AB": ["p1"], "M": ["p0", "p2"]}, {}),
    ("no region is left out", "AB -", Grouping(), {"AB": ["p0"]}, {"p1": "no_region"}),
    ("moderators left out by default", "AB *AB", Grouping(), {"AB": ["p0"]},
     {"p1": "moderator"}),
    ("moderators included on request", "AB *AB", Grouping(include_moderators=True),
     {"AB": ["p0", "p1"]}, {}),
    ("more people than places", "M M M", Grouping(max_room_size=2), {"M": ["p0", "p1"]},
     {"p2": "room_full"}),
    ("lower-case code normalised", "ab", Grouping(), {"AB": ["p0"]}, {}),
    ("unknown code", "XX AB", Grouping(), {"AB": ["p1"]}, {"p0": "unknown_region"}),
]


@pytest.mark.parametrize(
    ("spec", "grouping", "expected_rooms", "expected_unplaced"),
    [case[1:] for case in BY_REGION_CASES],
    ids=[case[0] for case in BY_REGION_CASES],
)
def test_by_region(
    spec: str,
    grouping: Grouping,
    expected_rooms: dict[str, list[str]],
    expected_unplaced: dict[str, str],
) -> None:
    participants = people(spec)
    plan = make_plan(participants, grouping)
    assert rooms_of(plan) == expected_rooms
    assert reasons(plan) == expected_unplaced
    assert accounts_for_everyone(plan, participants)


def test_all_21_regions_get_their_own_room_with_swedish_names() -> None:
    participants = people(" ".join(r.code for r in reversed(REGIONS)))
    plan = make_plan(participants)
    assert [room.key for room in plan.rooms] == [r.code for r in REGIONS]
    names = {room.name for room in plan.rooms}
    assert {"Skåne", "Östergötland", "Västra Götaland", "Jämtland Härjedalen"} <= names
    assert all(len(room.members) == 1 for room in plan.rooms)


def test_regions_table_is_the_official_21() -> None:
    assert len(REGIONS) == 21
    assert len({r.code for r in REGIONS}) == 21
    assert [r.number for r in REGIONS] == sorted(r.number for r in REGIONS)
    assert {("AB", "Stockholm"), ("M", "Skåne"), ("BD", "Norrbotten")} <= {
        (r.code, r.name) for r in REGIONS
    }


CUSTOM = Grouping(
    Strategy.CUSTOM,
    groups=(RoomSpec("Norr", ("BD", "AC", "Z", "Y")), RoomSpec("Syd", ("M", "K", "G", "H"))),
)

CUSTOM_CASES: list[tuple[str, str, Grouping, dict[str, list[str]], dict[str, str]]] = [
    ("across county borders", "BD M Z K", CUSTOM,
     {"Norr": ["p0", "p2"], "Syd": ["p1", "p3"]}, {}),
    ("empty groups stay in the preview", "BD", CUSTOM, {"Norr": ["p0"], "Syd": []}, {}),
    ("region outside every group", "AB M", CUSTOM, {"Norr": [], "Syd": ["p1"]},
     {"p0": "no_room"}),
    ("no region in custom groups", "- M", CUSTOM, {"Norr": [], "Syd": ["p1"]},
     {"p0": "no_region"}),
]


@pytest.mark.parametrize(
    ("spec", "grouping", "expected_rooms", "expected_unplaced"),
    [case[1:] for case in CUSTOM_CASES],
    ids=[case[0] for case in CUSTOM_CASES],
)
def test_custom_groups(
    spec: str,
    grouping: Grouping,
    expected_rooms: dict[str, list[str]],
    expected_unplaced: dict[str, str],
) -> None:
    participants = people(spec)
    plan = make_plan(participants, grouping)
    assert rooms_of(plan) == expected_rooms
    assert reasons(plan) == expected_unplaced
    assert accounts_for_everyone(plan, participants)


BALANCED_CASES: list[tuple[str, str, Grouping, list[int], int]] = [
    # (id, people, grouping, expected room sizes, regions split across rooms)
    ("regions kept whole", "AB AB M M", Grouping(Strategy.BALANCED, room_count=2), [2, 2], 0),
    ("big region split for balance", "AB AB AB AB M", Grouping(Strategy.BALANCED, room_count=2),
     [3, 2], 1),
    ("no region fills the gaps", "AB AB - -", Grouping(Strategy.BALANCED, room_count=2),
     [2, 2], 0),
    ("count derived from max size", "AB AB M M C", Grouping(Strategy.BALANCED, max_room_size=2),
     [2, 2, 1], 0),
    ("overflow beyond count x max", "AB M C I H",
     Grouping(Strategy.BALANCED, room_count=2, max_room_size=2), [2, 2], 0),
    ("more rooms than people", "AB", Grouping(Strategy.BALANCED, room_count=3), [1, 0, 0], 0),
    ("empty input", "", Grouping(Strategy.BALANCED, room_count=2), [0, 0], 0),
]


@pytest.mark.parametrize(
    ("spec", "grouping", "sizes", "split_regions"),
    [case[1:] for case in BALANCED_CASES],
    ids=[case[0] for case in BALANCED_CASES],
)
def test_balanced(spec: str, grouping: Grouping, sizes: list[int], split_regions: int) -> None:
    participants = people(spec)
    plan = make_plan(participants, grouping)
    assert sorted((len(r.members) for r in plan.rooms), reverse=True) == sizes
    regions_per_room = Counter(code for room in plan.rooms for code in room.regions)
    assert sum(1 for n in regions_per_room.values() if n > 1) == split_regions
    assert accounts_for_everyone(plan, participants)
    assert all(u.reason is Reason.ROOM_FULL for u in plan.unplaced)


def test_balanced_sizes_differ_by_at_most_one_for_uneven_regions() -> None:
    participants = people("AB " * 7 + "M " * 5 + "BD " * 3 + "I - -")
    plan = make_plan(participants, Grouping(Strategy.BALANCED, room_count=4))
    sizes = [len(r.members) for r in plan.rooms]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == len(participants)


def test_facilitator_is_moved_into_their_room_even_as_moderator() -> None:
    participants = people("AB M *-")
    plan = make_plan(participants, facilitators={"M": "p2"})
    room = {r.key: r for r in plan.rooms}["M"]
    assert room.facilitator == "p2" and room.members == ("p2", "p1")
    assert plan.unplaced == ()


def test_facilitator_in_a_full_room_bumps_the_latest_member() -> None:
    participants = people("M M AB")
    plan = make_plan(participants, Grouping(max_room_size=2), facilitators={"M": "p2"})
    assert rooms_of(plan) == {"AB": [], "M": ["p2", "p0"]}
    assert reasons(plan) == {"p1": "room_full"}


def test_balanced_facilitator_moves_without_bumping_anyone() -> None:
    participants = people("AB AB M M")
    plan = make_plan(participants, Grouping(Strategy.BALANCED, room_count=2),
                     facilitators={"2": "p0"})
    assert plan.unplaced == ()
    assert {r.key: r.facilitator for r in plan.rooms} == {"1": None, "2": "p0"}


REFUSED: list[tuple[str, list[Participant], Grouping, dict[str, str], str]] = [
    ("duplicate ids", [Participant("a", "A", "AB"), Participant("a", "B", "M")], Grouping(), {},
     "plan.duplicate_participant"),
    ("region in two groups", [], Grouping(Strategy.CUSTOM, (RoomSpec("x", ("AB",)),
                                                            RoomSpec("y", ("ab",)))), {},
     "plan.region_twice"),
    ("unknown region in a group", [], Grouping(Strategy.CUSTOM, (RoomSpec("x", ("QQ",)),)), {},
     "plan.unknown_region"),
    ("repeated room name", [], Grouping(Strategy.CUSTOM, (RoomSpec("x", ()), RoomSpec("x", ()))),
     {}, "plan.duplicate_room"),
    ("custom without rooms", [], Grouping(Strategy.CUSTOM), {}, "plan.invalid"),
    ("balanced without size", [], Grouping(Strategy.BALANCED), {}, "plan.invalid"),
    ("zero max size", [], Grouping(max_room_size=0), {}, "plan.invalid"),
    ("facilitator for a missing room", [Participant("a", "A", "AB")], Grouping(), {"M": "a"},
     "plan.unknown_room"),
    ("unregistered facilitator", [Participant("a", "A", "AB")], Grouping(), {"AB": "zz"},
     "plan.unknown_participant"),
]


@pytest.mark.parametrize(
    ("participants", "grouping", "facilitators", "code"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_a_stable_code(
    participants: list[Participant], grouping: Grouping, facilitators: dict[str, str], code: str
) -> None:
    with pytest.raises(RoomsError) as caught:
        make_plan(participants, grouping, facilitators)
    assert caught.value.code == code


def test_template_round_trips_through_json_and_plans_the_same() -> None:
    saved = json.dumps(grouping_to_dict(CUSTOM))
    loaded = grouping_from_dict(json.loads(saved))
    participants = people("BD M Z K AB")
    assert loaded == CUSTOM
    assert make_plan(participants, loaded) == make_plan(participants, CUSTOM)


def test_plan_preview_is_json_ready() -> None:
    plan = make_plan(people("M -"))
    assert json.loads(json.dumps(plan.to_dict())) == {
        "rooms": [{"key": "M", "name": "Skåne", "regions": ["M"], "members": ["p0"],
                   "facilitator": None}],
        "unplaced": [{"participant_id": "p1", "reason": "no_region"}],
    }


BROKEN_TEMPLATES: list[Any] = [
    [],
    {"version": 99},
    {"version": 1, "strategy": "by_lottery"},
    {"version": 1, "strategy": "custom", "groups": [{"name": "x"}]},
    {"version": 1, "strategy": "custom", "groups": [{"name": "x", "regions": ["QQ"]}]},
    {"version": 1, "max_room_size": "10"},
    {"version": 1, "include_moderators": "yes"},
]


@pytest.mark.parametrize("data", BROKEN_TEMPLATES)
def test_broken_template_is_refused(data: Any) -> None:
    with pytest.raises(RoomsError) as caught:
        grouping_from_dict(data)
    assert caught.value.code.startswith("plan.")
