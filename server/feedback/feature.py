"""Regional feedback on a node: its ports onto the breakout rooms (who belongs to a region)
and the stored notes (a theme's notes pulled into an answer)."""

from __future__ import annotations

from quart import Quart

from server.feedback import regional, sockets, views
from server.feedback.service import PORTS, FeedbackPorts, RoomMembership
from server.notes.service import REGISTRY, StoredNotesSource
from server.platform.feature import Feature
from server.platform.node import Platform


def install(platform: Platform, app: Quart) -> None:
    notes = platform.need(REGISTRY)
    source = StoredNotesSource(platform.db, notes.storage.flush)
    platform.provide(PORTS, FeedbackPorts(RoomMembership(), source))


FEATURE = Feature("feedback", sockets.router, views.feedback, install, templates="feedback",
                  forget=regional.forget_author)
