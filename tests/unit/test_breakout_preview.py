"""The moderator's preview and the room's participant list, without a server."""

from __future__ import annotations

from rooms.planning import Grouping, Strategy
from server.breakout.presence import people_of
from server.breakout.service import Person, plan, preview_view

PEOPLE = [
    Person("r1", "Åsa Öberg", "M"),
    Person("r2", "Per Andersson", "M", "on_site"),
    Person("r3", "Anna Lundström", "BD", "on_site"),
    Person("r4", "Utan Region", None),
    Person("u1", "Moderator", None, staff=True),
]


def test_preview_counts_on_site_and_suggests_rooms_without_media() -> None:
    view = preview_view(PEOPLE, plan(PEOPLE, Grouping(), {}), without_media=["M"])
    rooms = {r["key"]: r for r in view["rooms"]}
    assert (rooms["M"]["count"], rooms["M"]["on_site"], rooms["M"]["media"]) == (2, 1, False)
    assert (rooms["BD"]["all_on_site"], rooms["BD"]["media"]) == (True, True)
    assert {(u["name"], u["reason"]) for u in view["unplaced"]} == {
        ("Utan Region", "no_region"),
        ("Moderator", "moderator"),
    }
    assert view["totals"] == {"people": 5, "placed": 3, "unplaced": 2}


def test_facilitator_from_another_region_is_moved_into_the_room() -> None:
    view = preview_view(PEOPLE, plan(PEOPLE, Grouping(), {"BD": 1}))
    bd = next(r for r in view["rooms"] if r["key"] == "BD")
    assert bd["facilitator"]["name"] == "Åsa Öberg"
    assert [m["name"] for m in bd["members"]] == ["Åsa Öberg", "Anna Lundström"]


def test_moderators_are_placed_when_chosen() -> None:
    grouping = Grouping(strategy=Strategy.BALANCED, room_count=2, include_moderators=True)
    view = preview_view(PEOPLE, plan(PEOPLE, grouping, {}))
    assert view["unplaced"] == [] and sum(r["staff"] for r in view["rooms"]) == 1


def test_one_line_per_person_in_a_room_and_any_raised_hand_counts() -> None:
    entries = {
        "sid1": {
            "key": "participant:1",
            "name": "Åsa",
            "role": "participant",
            "hand": False,
            "node": "a",
        },
        "sid2": {
            "key": "participant:1",
            "name": "Åsa",
            "role": "participant",
            "hand": True,
            "node": "b",
        },
        "sid3": {
            "key": "user:1",
            "name": "Moderator",
            "role": "moderator",
            "hand": False,
            "node": "a",
        },
    }
    people = people_of(entries)
    assert [(p["name"], p["hand"]) for p in people] == [("Moderator", False), ("Åsa", True)]
    assert all("node" not in p for p in people)
