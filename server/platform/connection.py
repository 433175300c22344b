"""Connecting and disconnecting: the handshake token decides who you are and which event."""

from __future__ import annotations

from collections.abc import Awaitable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import socketio

from server.platform import keys, sessions
from server.platform.auth import Principal
from server.platform.errors import DomainError, log, unavailable
from server.platform.events import SocketDisconnected
from server.platform.i18n import pick_language
from server.platform.models import Event, Registration, User, WebSession, utcnow
from server.platform.node import Platform
from server.platform.presence import Presence
from server.platform.roles import staff_principal
from server.platform.web import LANG_COOKIE, principal_for_registration


async def _best_effort(what: str, step: Awaitable[None]) -> None:
    """Presence lives in Redis and is rebuilt by the next heartbeat: while Redis does not
    answer, a connection is still made (bench/rehearsal.py saw handshakes fail with the
    connection error, dropping people who were only reconnecting)."""
    try:
        await step
    except Exception as exc:
        if not unavailable(exc):
            raise
        log.warning("%s skipped: Redis does not answer (%r)", what, exc)


def mount_connection(platform: Platform, presence: Presence) -> None:
    sio = platform.sio

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        lang = socket_language(environ, platform.settings.default_language)
        try:
            data = read_token(platform, auth)
            principal, event_id = await authenticate_token(platform, data)
        except DomainError as exc:
            platform.metrics.socket_refused.labels(exc.code).inc()
            raise socketio.exceptions.ConnectionRefusedError(
                exc.text(lang), exc.as_dict(lang)) from exc
        await sio.save_session(sid, {"principal": principal, "event_id": event_id, "lang": lang})
        await _enter_rooms(sio, sid, principal, event_id)
        session_hash = data.get("s")
        if isinstance(session_hash, str):  # ended together with its web session
            await sio.enter_room(sid, keys.session_room(session_hash))
        platform.metrics.socket_connections.inc()
        platform.metrics.socket_clients.labels(str(event_id or "none")).inc()
        await _best_effort("presence join", presence.joined(sid, principal, event_id))

    async def disconnect(sid: str, *_: Any) -> None:
        session = await sio.get_session(sid)
        platform.metrics.socket_connections.dec()
        if "event_id" in session:
            platform.metrics.socket_clients.labels(str(session["event_id"] or "none")).dec()
            await _best_effort("presence leave", presence.left(sid, session["event_id"]))
        await platform.events.publish(SocketDisconnected(sid))  # features' own clean-up

    async def ping(sid: str, *_: Any) -> dict[str, bool]:
        """`session.ping`: a round trip a page asks for when it suspects its connection is dead
        (its media stopped: the network may have changed under it). The heartbeat of Engine.IO
        would take up to 45 s to tell; an unanswered ping lets the page reconnect at once."""
        return {"ok": True}

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("session.ping", ping)


def socket_language(environ: dict[str, Any], default: str) -> str:
    """The page's language, as the HTTP side picks it: `?lang=` on the socket URL, else the
    language cookie (server/platform/web.py)."""
    query = parse_qs(environ.get("QUERY_STRING", "")).get("lang", [None])[0]
    cookies = SimpleCookie()
    try:
        cookies.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        cookies = SimpleCookie()
    cookie = cookies.get(LANG_COOKIE)
    return pick_language(query, cookie.value if cookie else None, default)


async def _enter_rooms(
    sio: socketio.AsyncServer, sid: str, principal: Principal, event_id: int
) -> None:
    await sio.enter_room(sid, keys.event_room(event_id))
    if principal.is_moderator:
        await sio.enter_room(sid, keys.moderators_room(event_id))
    if principal.kind == "participant":
        await sio.enter_room(sid, keys.registration_room(principal.id))


def read_token(platform: Platform, auth: Any) -> dict[str, Any]:
    """The handshake token's signed content (refused when forged, too old or absent)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    return platform.tokens.read_socket_token(token)


async def authenticate(platform: Platform, auth: Any) -> tuple[Principal, int]:
    """Check the handshake token against the database: a deleted user or event is refused."""
    return await authenticate_token(platform, read_token(platform, auth))


async def authenticate_token(platform: Platform, data: dict[str, Any]) -> tuple[Principal, int]:
    event_id = data.get("e")
    async with platform.db.session() as db:
        if not isinstance(event_id, int) or await db.get(Event, event_id) is None:
            raise DomainError("auth.no_event", "Evenemanget finns inte.")
        await _session_alive(db, platform, data.get("s"))
        principal = await _principal(db, data, event_id)
    if principal.kind == "participant" and principal.event_id != event_id:
        raise DomainError("auth.wrong_event", "Du är inte anmäld till detta evenemang.")
    return principal, event_id


async def _session_alive(db: Any, platform: Platform, session_hash: object) -> None:
    """A token asked for under a web session is good only while that session lives (logged
    out, ended by an admin or a password change: refused)."""
    if session_hash is None:
        return  # minted by the server itself (tools, benchmarks): only its secret can
    row = await db.get(WebSession, session_hash) if isinstance(session_hash, str) else None
    if row is None or not sessions.alive(row, platform.settings, utcnow()):
        raise DomainError("auth.invalid_session", "Sessionen gäller inte längre.",
                          key="auth.invalid_session.revoked")


async def _principal(db: Any, data: dict[str, Any], event_id: int) -> Principal:
    if data["k"] == "u":
        user = await db.get(User, data["i"])
        if user:
            return await staff_principal(db, user, event_id)
    else:
        reg = await db.get(Registration, data["i"])
        if reg:
            return principal_for_registration(reg)
    raise DomainError("auth.invalid_session", "Sessionen gäller inte längre.",
                      key="auth.invalid_session.revoked")
