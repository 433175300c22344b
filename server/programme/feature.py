"""The event's programme: moving it forward, presence (no node services of its own)."""

from server.platform.feature import Feature
from server.programme import sockets

FEATURE = Feature("programme", sockets.router)
