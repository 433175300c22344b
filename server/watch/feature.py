"""Watching together on a node: the `watch.*` socket events (no services of its own)."""

from __future__ import annotations

from server.platform.feature import Feature
from server.watch import sockets

FEATURE = Feature("watch", sockets.router)
