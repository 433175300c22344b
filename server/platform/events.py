"""Domain events inside one node: how one feature tells others something happened.

A feature that publishes declares its events as frozen dataclasses in its own package
(`server/breakout/events.py`); a feature that cares subscribes in its `install`. The publisher
never imports the subscriber, which is what keeps features independent (import-linter checks
it). Handlers run in subscription order and are awaited, so "the round is closed" is followed
by "notes are read-only" before the moderator's acknowledgement leaves; one failing handler is
logged through the one logging hook and does not stop the others. Events that must reach
other nodes travel through the features' own buses (notes bus, room media bus) as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from server.platform.errors import log_unexpected

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class SocketDisconnected:
    """A socket.io connection of this node ended (published by server/platform/connection)."""

    sid: str


class DomainEvents:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                await handler(event)
            except Exception as exc:  # one subscriber's bug must not silence the others
                log_unexpected(f"domain event {type(event).__name__}", exc)

    def subscribers(self, kind: type) -> int:
        return len(self._handlers.get(kind, ()))
