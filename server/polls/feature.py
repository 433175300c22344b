"""Live polls on a node: batched votes and coalesced result broadcasts."""

from __future__ import annotations

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.polls import service, sockets


def install(platform: Platform, app: Quart) -> None:
    results = platform.provide(service.RESULTS, service.Results(platform))
    ballots = platform.provide(service.BALLOTS, service.VoteBatcher(platform.db.transaction))
    platform.lifecycle.add("poll results", None, results.stop)
    platform.lifecycle.add("poll ballots", None, ballots.stop)


FEATURE = Feature("polls", sockets.router, None, install, templates="polls")
