"""The event's programme: moving it forward, presence (no node services of its own)."""

from server.platform.feature import Feature
from server.programme import sockets, views

FEATURE = Feature("programme", sockets.router, views.event_admin)
