"""What a feature adds to a node, in one value each feature package declares
(`server/<feature>/feature.py`); the composition root (server/app.py) walks the list in
server/features.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from quart import Blueprint, Quart
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.node import Platform
from server.platform.sockets import Router

Install = Callable[[Platform, Quart], None]
Forget = Callable[[AsyncSession, int], Awaitable[None]]
EventOf = Callable[[AsyncSession, int], Awaitable[int | None]]


@dataclass(frozen=True)
class Feature:
    name: str
    router: Router | None = None
    blueprint: Blueprint | None = None
    install: Install | None = None
    """Builds the feature's services on the node, eagerly: provides them under the feature's
    typed keys, adds their start and stop to `platform.lifecycle`, subscribes to the domain
    events it reacts to."""
    templates: str | None = None
    """Folder under templates/ whose `_live_panel.html`, `_live_scripts.html`,
    `_console_panel.html` and `_console_scripts.html` the live page and console include."""
    forget: Forget | None = None
    """Runs in the transaction that deletes a registration (staff, the person themself, or
    the retention period): makes what others still see of the person anonymous, by the
    registration's id, before the row goes (server/platform/registration.py: Forgetting)."""
    events_of: tuple[tuple[str, EventOf], ...] = ()
    """The feature's route arguments that name a thing of one event (`recording_id`), with
    how to find that event: staff's role on such a route is their role at that event
    (platform/web.py: request_event). `slug` is the platform's own."""
