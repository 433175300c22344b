"""Names of socket.io rooms and Redis keys, built here and nowhere else."""

from __future__ import annotations

import hashlib
import hmac


def event_room(event_id: int) -> str:
    """Everyone connected to an event."""
    return f"event:{event_id}"


def moderators_room(event_id: int) -> str:
    """Moderators (and admins) of an event: they see pending questions and names."""
    return f"event:{event_id}:moderators"


def registration_room(registration_id: int) -> str:
    """Every connection of one participant (several tabs or devices)."""
    return f"registration:{registration_id}"


def presence_key(event_id: int) -> str:
    return f"tp:presence:{event_id}"


def node_alive_key(node_id: str) -> str:
    return f"tp:node:{node_id}:alive"


def rate_key(action: str, who: str) -> str:
    return f"tp:rate:{action}:{who}"


SOCKETIO_CHANNEL = "tp:socketio"


def stage_id(event_id: int, secret: str) -> str:
    """The media engine's id of an event's stage, also its HLS folder and URL: the event id
    and an HMAC of it under the node's secret, so one stage's URL tells nobody the next one's.
    """
    tag = hmac.new(secret.encode(), f"stage:{event_id}".encode(), hashlib.sha256).hexdigest()
    return f"event-{event_id}-{tag[:32]}"


def event_id_of_stage(stage: str) -> int | None:
    """The event id a stage id names (unverified: compare with `stage_id` where it matters)."""
    prefix = "event-"
    rest, _, _ = stage[len(prefix):].partition("-")
    ok = stage.startswith(prefix) and rest.isascii() and rest.isdigit() and len(rest) < 10
    return int(rest) if ok else None  # "²".isdigit() is True, and int("²") fails


def qa_room(event_id: int) -> str:
    """Non-moderators who opened the Q&A panel (or presenter view) of an event: public view only."""
    return f"event:{event_id}:qa"


def feedback_dashboard_room(event_id: int) -> str:
    """KB staff watching the feedback dashboard of an event."""
    return f"event:{event_id}:feedback"


def feedback_region_room(event_id: int, region_code: str) -> str:
    """Everyone drafting one region's feedback response (co-editors hear each other's saves)."""
    return f"event:{event_id}:feedback:{region_code}"


def breakout_room(room_id: int) -> str:
    """Everyone currently inside one breakout room (members, facilitator, visiting moderators)."""
    return f"room:{room_id}"


def room_presence_key(room_id: int) -> str:
    """Who is inside one breakout room now: sid -> person (with the node serving the sid)."""
    return f"tp:room:{room_id}:presence"


def notes_room(room_id: int) -> str:
    """Connections on this node that joined the shared notes of one breakout room."""
    return f"room:{room_id}:notes"


NOTES_CHANNEL = "tp:notes"
"""Redis channel on which nodes pass each other the note updates they stored (server/notes.py)."""

ROOM_MEDIA_CHANNEL = "tp:room_media"
"""Redis channel: hang up a person or a room on the node that holds its media (room_media.py)."""


ROOM_MEDIA_RPC_CHANNEL = "tp:room_media:rpc"
"""Redis channel: a node passes a person's media signalling to the node hosting the room."""

ROOM_MEDIA_LOAD = "tp:room_media:load"
"""Redis hash: media-serving node -> people whose room media it hosts (least loaded hosts next)."""


def room_media_alive_key(node_id: str) -> str:
    """Set for a few seconds by a node that hosts room media, every second while it runs: a
    host that dies (SIGKILL, power) is known dead within seconds, and its rooms move."""
    return f"tp:room_media:alive:{node_id}"


def room_media_host_key(room_id: int) -> str:
    """Which node hosts one breakout room's media (all of the room's peer connections)."""
    return f"tp:room_media:host:{room_id}"


def room_media(room_id: int) -> str:
    """Everyone connected to one breakout room's audio and video (room_media.* events)."""
    return f"room:{room_id}:media"


def session_room(session_hash: str) -> str:
    """The sockets opened under one web session (ended together when it ends)."""
    return f"session:{session_hash}"
