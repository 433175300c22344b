"""What the breakout feature tells others (server/platform/events.py): rooms closed, a person
moved out of a room. Notes and room media subscribe; breakout imports neither."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoomsClosed:
    """A round was closed ("close all rooms"): these rooms are over."""

    event_id: int
    room_ids: tuple[int, ...]


@dataclass(frozen=True)
class PersonLeftRoom:
    """A person (`participant:<id>` / `user:<id>`) no longer belongs to a room: moved by a
    moderator. Subscribers take every seat of theirs in it, on every node."""

    room_id: int
    person_key: str
