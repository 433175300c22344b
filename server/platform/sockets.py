"""Socket.IO entry point: one router per feature, handlers shaped by one decorator.

A handler gets a `SocketContext` (who, which event, how to emit) and a validated pydantic
payload; it returns a dict for the acknowledgement. Validation failures, authorisation and
domain errors are translated here, once: the client gets `{"ok": false, "error": {...}}` as
the ack and an `error` event, and the connection (and everyone else's) stays up.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import socketio
from pydantic import BaseModel, Field, ValidationError

from server.platform import logs
from server.platform.auth import Principal
from server.platform.errors import DomainError, log_unexpected, unavailable, unavailable_error
from server.platform.node import Platform
from server.platform.payload import TooDeep, check_payload

MAX_PAYLOAD_CHARS = 16_384
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
"""A row id in a payload: a JSON integer a database column can hold (10**30 is refused here,
not by the database)."""


@dataclass(frozen=True)
class SocketContext:
    platform: Platform
    sid: str
    principal: Principal
    event_id: int
    lang: str = "sv"

    async def emit(self, name: str, data: Any, to: str) -> None:
        await self.platform.sio.emit(name, data, to=to)


Handler = Callable[[SocketContext, Any], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    model: type[BaseModel] | None
    moderator: bool


class Router:
    """The socket events of one feature (`qa.ask`, `qa.vote`, ...)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def on(
        self, name: str, model: type[BaseModel] | None = None, *, moderator: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(name, handler, model, moderator))
            return handler

        return register


def mount(platform: Platform, routers: list[Router]) -> None:
    for router in routers:
        for route in router.routes:
            platform.sio.on(route.name, _wrap(platform, route))


_numbers = itertools.count(1)


def _wrap(platform: Platform, route: Route) -> Callable[..., Awaitable[dict[str, Any]]]:
    seconds = platform.metrics.socket_handler_seconds.labels(route.name)

    async def handle(sid: str, *args: Any) -> dict[str, Any]:
        started = time.perf_counter()
        # Its log lines name the event, the connection and which of its events this is.
        named = logs.socket_event.set(f"{route.name}:{sid[:8]}:{next(_numbers)}")
        try:
            if len(args) > 1:  # socket.io lets a client send any number of arguments
                raise DomainError("payload.invalid", "Ogiltigt meddelande.", fields=["payload"])
            if args and isinstance(args[0], TooDeep):
                raise DomainError("payload.invalid", "Meddelandet är för djupt nästlat.",
                                  key="payload.invalid.deep")
            data = args[0] if args else None
            ctx = await _context(platform, sid)
            if route.moderator:
                ctx.principal.require_moderator()
            result = await route.handler(ctx, _parse(route, data))
            platform.metrics.socket_events.labels(route.name, "ok").inc()
            return {"ok": True, **(result or {})}
        except DomainError as exc:
            return await _fail(platform, sid, route.name, exc)
        except Exception as exc:  # one logging hook; the client still gets an answer
            if unavailable(exc):  # PostgreSQL or Redis away for a moment: say so, no bug
                return await _fail(platform, sid, route.name, unavailable_error(route.name, exc))
            log_unexpected(route.name, exc)
            error = DomainError("server.error", "Ett oväntat fel inträffade. Försök igen.")
            return await _fail(platform, sid, route.name, error)
        finally:
            seconds.observe(time.perf_counter() - started)
            logs.socket_event.reset(named)

    return handle


async def _context(platform: Platform, sid: str) -> SocketContext:
    session = await platform.sio.get_session(sid)
    return SocketContext(platform, sid, session["principal"], session["event_id"],
                         session.get("lang", "sv"))


def _parse(route: Route, data: Any) -> Any:
    if route.model is None:
        return None
    if isinstance(data, (str, bytes)) and len(data) > MAX_PAYLOAD_CHARS:
        raise DomainError("payload.too_large", "Meddelandet är för stort.")
    check_payload(data)
    try:
        return route.model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        fields = [".".join(map(str, e["loc"])) or "payload" for e in exc.errors()]
        raise DomainError("payload.invalid", "Ogiltigt meddelande.", fields=fields) from exc


async def _fail(platform: Platform, sid: str, name: str, exc: DomainError) -> dict[str, Any]:
    platform.metrics.socket_events.labels(name, exc.code).inc()
    try:
        lang = (await platform.sio.get_session(sid)).get("lang", "sv")
    except KeyError:  # the connection is gone
        lang = "sv"
    error = exc.as_dict(lang)
    await platform.sio.emit("error", {"event": name, **error}, to=sid)
    return {"ok": False, "error": error}


__all__ = ["Router", "SocketContext", "mount", "socketio"]
