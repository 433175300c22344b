"""Helpers every HTTP view shares: the platform, the caller, CSRF, language and rendering."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ValidationError
from quart import Response as QuartResponse
from quart import current_app, g, render_template, request, send_file, session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import keys, sessions
from server.platform.auth import Principal, csrf_ok, new_csrf_token
from server.platform.errors import DomainError, NotFound
from server.platform.feature import EventOf
from server.platform.i18n import pick_language, translate
from server.platform.models import Event, Registration, User
from server.platform.node import Key, Platform
from server.platform.payload import MAX_DEPTH, check_payload, json_depth
from server.platform.roles import staff_principal

LANG_COOKIE = "lang"
SESSION_KEY = "s"
"""The one thing the signed cookie says about who you are: a random token (platform/sessions)."""


def platform() -> Platform:
    return current_app.extensions["traffpunkt"]  # type: ignore[no-any-return]


def language() -> str:
    if "lang" not in g:
        g.lang = pick_language(
            request.args.get("lang"), request.cookies.get(LANG_COOKIE),
            platform().settings.default_language,
        )
    return g.lang  # type: ignore[no-any-return]


_SAFE_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default`: the one check of every redirect
    that a request names (`?next=`). Only a single leading slash followed by printable ASCII
    passes: no scheme or host, no `//` or `/\\` (browsers read a backslash as a slash), no
    control characters (CRLF into a header), no whitespace, and none of those hidden behind
    percent-encoding (`/%2F%2Fevil`, `/%5Cevil`)."""
    if not target or len(target) > 2000:
        return default
    decoded = target
    for _ in range(3):  # what a browser or a proxy might decode on the way
        if not _SAFE_PATH.match(decoded) or "\\" in decoded:
            return default
        decoded = unquote(decoded)
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else default


DEFAULT_BODY_LIMIT = 64 * 1024
"""Bytes a request body may have unless its route says otherwise (`body_limit`): forms and
JSON are small. Quart parses an accepted form on the event loop, so this bound is also what
bounds the time one request can hold up everyone else's."""
BODY_LIMIT_ATTRIBUTE = "traffpunkt_body_limit"
V = TypeVar("V", bound=Callable[..., Any])


def body_limit(size: int) -> Callable[[V], V]:
    """A route whose body may be larger than DEFAULT_BODY_LIMIT (an upload)."""

    def mark(view: V) -> V:
        setattr(view, BODY_LIMIT_ATTRIBUTE, size)
        return view

    return mark


async def bound_body() -> None:
    """Before any view reads: refuse a body larger than its route allows (413), by its
    Content-Length at once, and a chunked one as soon as it grows past the limit. And a path
    with a NUL in it (`%00`): no page has one, and PostgreSQL refuses it in any text, so it
    would otherwise reach a query (an event's slug) and fail there."""
    if "\x00" in request.path:
        raise NotFound("not_found", "Sidan finns inte.", key="not_found.page")
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, BODY_LIMIT_ATTRIBUTE, DEFAULT_BODY_LIMIT)
    request.max_content_length = limit
    # Quart sized the body's own cap from the app's MAX_CONTENT_LENGTH when the request was
    # made; the route's cap must reach it before the body is read.
    request.body._max_content_length = limit
    received = len(request.body._data)  # what arrived before this hook ran
    if (request.content_length or 0) > limit or received > limit:
        raise DomainError("request.too_large", "Förfrågan är för stor.", limit=limit)


M = TypeVar("M", bound=BaseModel)


async def json_body(model: type[M]) -> M:
    """The request's JSON body as `model`, or `payload.invalid` (422): not JSON, too deeply
    nested (Python's parser would recurse), or not the shape the route takes."""
    data = await request.get_data(as_text=True)
    raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
    if json_depth(raw) > MAX_DEPTH:
        raise DomainError("payload.invalid", "Meddelandet är för djupt nästlat.",
                          key="payload.invalid.deep")
    try:
        parsed = json.loads(raw or "{}")
    except ValueError as exc:
        raise DomainError("payload.invalid", "Ogiltigt meddelande.") from exc
    check_payload(parsed)
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        fields = [".".join(map(str, e["loc"])) or "payload" for e in exc.errors()][:20]
        raise DomainError("payload.invalid", "Ogiltigt meddelande.", fields=fields) from exc


def security_headers(response: Any, settings: Any) -> None:
    """What every answer says about how browsers must treat it. Scripts only from this site
    (no inline script anywhere in our pages: `script-src 'self'`); styles may be inline (the
    templates' small <style> blocks); media and WHIP/WHEP also from MEDIA_PUBLIC_URL; hls.js
    plays from blob: URLs. Camera and microphone only where a page sets its own
    Permissions-Policy (the producer page, a breakout room)."""
    media = settings.media_public_url.rstrip("/")
    extra = f" {media}" if media else ""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:", f"media-src 'self' blob:{extra}",
        f"connect-src 'self'{extra}", "worker-src 'self' blob:", "object-src 'none'",
        "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'",
    ]))
    headers.setdefault("Permissions-Policy", NO_DEVICES)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    if settings.production:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


NO_DEVICES = "camera=(), microphone=(), display-capture=(), geolocation=()"
CAMERA_PAGE = "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
"""The Permissions-Policy of a page that asks for camera and microphone (with_devices)."""


def with_devices(page: tuple[str, int]) -> tuple[str, int, dict[str, str]]:
    """A rendered page that may use camera, microphone and screen sharing."""
    body, status = page
    return body, status, {"Permissions-Policy": CAMERA_PAGE}


async def require_staff_or_token(token: str) -> None:
    """Operations pages: any signed-in staff member, or a scraper with the configured token."""
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return
    principal = await current_principal()
    if principal is None or not principal.is_staff:
        raise DomainError("auth.required", "Du har inte behörighet till sidan.")


def client_address() -> str:
    """Who is asking, as far as the network tells: the TCP peer, or behind a reverse proxy
    (`TRUSTED_PROXY_HEADER`, off by default) the last address the proxy added to that header.
    Only that last entry is the proxy's own observation; earlier ones are the client's say."""
    header = platform().settings.trusted_proxy_header
    if header:
        forwarded = request.headers.get(header, "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return str(request.remote_addr or "unknown")[:64]


def t(key: str, **values: object) -> str:
    return translate(language(), key, **values)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = new_csrf_token()
    return session["csrf"]  # type: ignore[no-any-return]


async def check_csrf() -> None:
    """Every state-changing request carries the session's token (form field or header)."""
    form = await request.form
    check_payload(dict(form.lists()))  # every state-changing form passes here first
    given = form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not csrf_ok(session.get("csrf"), given):
        raise DomainError("csrf.invalid", "Formuläret har gått ut. Ladda om sidan och försök igen.")


async def checked_form() -> dict[str, str]:
    """A state-changing form's fields (one value each), after its CSRF check; the token not
    among them."""
    await check_csrf()
    return {k: str(v) for k, v in (await request.form).items() if k != "csrf_token"}


async def uploaded(field: str, limit: int) -> tuple[str, bytes] | None:
    """The file a multipart form sent in `field` (its name and at most `limit` + 1 bytes, so
    a check can tell it was too large), or None."""
    upload = (await request.files).get(field)
    data = upload.read(limit + 1) if upload else b""
    return (upload.filename or "", data) if upload and data else None


async def send_document(path: Path, media_type: str, filename: str) -> QuartResponse:
    """A stored document, always as a download under its cleaned name: never shown inline,
    never sniffed into another type, sandboxed if a browser opens it anyway."""
    if not path.is_file():
        raise NotFound("not_found", "Sidan finns inte.", key="not_found.page")
    response = await send_file(path, mimetype=media_type, as_attachment=True,
                               attachment_filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


async def current_principal() -> Principal | None:
    if "principal" in g:
        return g.principal  # type: ignore[no-any-return]
    g.principal = await _load_principal()
    return g.principal  # type: ignore[no-any-return]


async def _load_principal() -> Principal | None:
    """The session's person, from the server-side session the cookie's token names."""
    token = session.get(SESSION_KEY)
    if token is None:
        return None
    settings = platform().settings
    async with platform().db.session() as db:
        row = await sessions.load(db, settings, token)
        if row is None:
            return None
        principal: Principal | None = None
        if row.user_id is not None and (user := await db.get(User, row.user_id)):
            principal = await staff_principal(db, user, await request_event(db))
        elif row.registration_id is not None and (
                reg := await db.get(Registration, row.registration_id)):
            principal = principal_for_registration(reg)
    if principal is not None and sessions.due_for_touch(row):
        async with platform().db.transaction() as db:  # a write at most once a minute
            await sessions.touch(db, row)
    return principal


async def sign_in(*, user_id: int | None = None, registration_id: int | None = None) -> None:
    """Start a server-side session for the browser (after a login or a join link); what the
    cookie held before (another person's session) is ended, never silently kept."""
    await sign_out()
    async with platform().db.transaction() as db:
        token = await sessions.start(db, platform().settings, user_id=user_id,
                                     registration_id=registration_id)
    session[SESSION_KEY] = token
    session.permanent = True
    g.pop("principal", None)


async def sign_out() -> None:
    """End the browser's session on the server, and the sockets it opened, on every node."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        async with platform().db.transaction() as db:
            await sessions.end(db, token)
        await end_sockets(sessions.session_id(token))
    session.clear()
    g.pop("principal", None)


async def end_sockets(session_hash: str) -> None:
    """Sockets opened under an ended session: told (every node hears the room), and this
    node's disconnected; another node's refuses the session at their next handshake."""
    sio = platform().sio
    room = keys.session_room(session_hash)
    await sio.emit("session.ended", {}, to=room)
    for sid, _eio in list(sio.manager.get_participants("/", room)):
        await sio.disconnect(sid)


async def end_sockets_of(session_hashes: list[str]) -> None:
    """`end_sockets` for each session a change ended (after it committed)."""
    for ident in session_hashes:
        await end_sockets(ident)


def session_hash() -> str | None:
    """The server-side session's id (what socket tokens are bound to)."""
    token = session.get(SESSION_KEY)
    return sessions.session_id(token) if isinstance(token, str) else None


EVENT_OF = Key[dict[str, EventOf]]("web.event_of")
"""Route arguments that name a thing of one event, and how to find the event (features'
`events_of`, gathered by server/app.py)."""


async def request_event(db: AsyncSession) -> int | None:
    """The event the request is about, from its route: `/e/<slug>/…` and `/admin/events/
    <slug>/…` name it, a feature's argument (`recording_id`) leads to it; None elsewhere."""
    args = request.view_args or {}
    if isinstance(slug := args.get("slug"), str):
        return await db.scalar(select(Event.id).where(Event.slug == slug[:80]))
    found = platform().need(EVENT_OF)
    for name, value in args.items():
        if name in found and isinstance(value, int) and 0 < value < 2**31:
            return await found[name](db, value)
    return None


def principal_for_registration(reg: Registration) -> Principal:
    return Principal(
        "participant", reg.id, reg.name, "participant", reg.event_id, reg.region_code
    )


async def require_principal(*roles: str) -> Principal:
    principal = await current_principal()
    if principal is None:
        raise DomainError("auth.required", "Du har inte behörighet till sidan.")
    if roles:
        principal.require_role(*roles)
    return principal


async def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("principal", await current_principal())
    return await render_template(template, **context), status


def local_time(value: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC and shown in Swedish time."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not isinstance(value, datetime):
        return ""
    return value.astimezone(ZoneInfo("Europe/Stockholm")).strftime(fmt)
