"""The webcast over HTTP: WHIP ingest (RFC 9725), WHEP playback, live HLS files, the producer page.

WHIP and WHEP are addressed by the event's slug (`/whip/hosten-2020`), HLS by the stage id (its
folder under MEDIA_ROOT/hls, not guessable: `keys.stage_id`). The HLS files are served here when
no nginx is in front; behind nginx, nginx asks `/media/hls-auth` before each file (cached 10 s),
and both paths check with `require_hls_reader`. Errors are JSON `{"error": {"code", "message"}}`
with the status RFC 9725 and WHEP use; see docs/protocol/webcast.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, Response, request, send_file, session

from server.platform import programme, turn
from server.platform.auth import Principal, csrf_ok
from server.platform.connection import authenticate
from server.platform.errors import DomainError
from server.platform.models import Event
from server.platform.web import (
    current_principal,
    language,
    platform,
    render,
    require_principal,
    with_devices,
)
from server.webcast.service import (
    WHEP_SESSIONS,
    as_domain_error,
    require_hls_reader,
    require_producer,
    require_watcher,
    stage_state,
    stage_urls,
    token_matches,
    viewer_owner,
)
from streaming import StreamingError
from streaming.sdp import MAX_SDP_BYTES

webcast_views = Blueprint("webcast", __name__)

SDP = "application/sdp"
HLS_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
_HLS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(m3u8|ts)$")
_PLAYER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Codes only this boundary raises, with their status.
# Paths a media-only node (--media-only) serves; everything else is 404 there.
MEDIA_ONLY_PREFIXES = ("/whip/", "/whep/", "/media/hls/", "/media/hls-auth", "/healthz",
                       "/readyz", "/livez", "/metrics")

View = Callable[..., Awaitable[Any]]


async def media_only() -> Any:
    """On a media-only node (--media-only), everything but MEDIA_ONLY_PREFIXES is 404."""
    if not request.path.startswith(MEDIA_ONLY_PREFIXES):
        return _error(DomainError("not_found", "Detta är en medienod.",
                                  key="not_found.media_node"))
    return None


# -- across origins ----------------------------------------------------------------------

# WHIP/WHEP on a media node of its own (MEDIA_PUBLIC_URL): the page's origin calls it with a
# bearer token, never cookies, so no credentials are allowed; what a WHIP/WHEP client must read
# of an answer (RFC 9725: the session's Location, the ICE servers' Link, the ETag of an ICE
# restart) is exposed.
CORS_PREFIXES = ("/whip/", "/whep/")
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, X-CSRF-Token",
    "Access-Control-Max-Age": "600",
}


def cors_origins(settings: Any) -> frozenset[str]:
    origins = {_origin(settings.public_url)}
    origins |= {_origin(o) for o in settings.media_cors_origins.split(",") if o.strip()}
    return frozenset(o for o in origins if o)


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


async def cors(response: Response) -> Response:
    """CORS for WHIP/WHEP, on every answer: SDP, JSON errors (405 and 404 too) and preflights."""
    if not request.path.startswith(CORS_PREFIXES):
        return response
    response.headers.add("Vary", "Origin")
    origin = request.headers.get("Origin", "")
    if origin and origin in cors_origins(platform().settings):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Location, Link, ETag"
        if request.method == "OPTIONS":
            response.headers.update(CORS_HEADERS)
    return response


# -- errors ----------------------------------------------------------------------------


def _error(error: DomainError, **extra: Any) -> Response:
    response = _json({"error": error.as_dict(language()), **extra}, error.status)
    response.headers.update(error.headers)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="traffpunkt"'
    return response


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, content_type="application/json")


def media_endpoint(view: View) -> View:
    """Every WHIP/WHEP answer is SDP or a JSON error: never an HTML page."""

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await view(*args, **kwargs)
        except StreamingError as exc:
            return _error(as_domain_error(exc))
        except DomainError as exc:
            return _error(exc)

    return wrapper


# -- who is asking ---------------------------------------------------------------------------


async def _event(slug: str) -> Event:
    async with platform().db.session() as db:
        return await programme.get_event(db, slug)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _signed_principal(token: str, event_id: int) -> Principal | None:
    """A page's signed session token (the socket handshake token), for a media node on another
    origin where the session cookie is not sent."""
    try:
        principal, token_event = await authenticate(platform(), {"token": token})
    except DomainError:
        return None
    return principal if token_event == event_id else None


async def _caller(event_id: int) -> Principal | None:
    token = _bearer()
    if token is not None:
        principal = await _signed_principal(token, event_id)
        if principal is None:
            raise DomainError("auth.bad_token", "Ogiltig token.")
        return principal
    return await current_principal()


async def _authorise_publisher(event_id: int) -> None:
    """OBS and other encoders: the stage's bearer token. The producer page: a moderator's session
    (cookie plus the page's CSRF token), or its signed session token across origins."""
    token = _bearer()
    if token is not None:
        async with platform().db.session() as db:
            if await token_matches(db, event_id, token):
                return
        principal = await _signed_principal(token, event_id)
        if principal is None:
            raise DomainError("auth.bad_token", "Fel token för scenen.", key="auth.bad_token.stage")
        require_producer(principal)
        return
    require_producer(await current_principal())
    if not csrf_ok(session.get("csrf"), request.headers.get("X-CSRF-Token")):
        raise DomainError(
            "csrf.invalid", "CSRF-token saknas eller är fel.", key="csrf.invalid.header"
        )


async def _read_sdp() -> str:
    if request.mimetype != SDP:
        raise DomainError("sdp.unsupported_media_type", f"Content-Type måste vara {SDP}.",
                          expected=SDP)
    too_large = DomainError("sdp.too_large", f"SDP får vara högst {MAX_SDP_BYTES} byte.",
                            max=MAX_SDP_BYTES)
    if (request.content_length or 0) > MAX_SDP_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.body:
        body.extend(chunk)
        if len(body) > MAX_SDP_BYTES:
            raise too_large
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DomainError("sdp.invalid", "SDP är inte UTF-8.", key="sdp.invalid.encoding") from exc


def _answer(answer: str, location: str, who: str) -> Response:
    """201 with the session's URL and, as RFC 9725 `Link` headers, the ICE servers (TURN with a
    credential for `who`) the client may use for an ICE restart."""
    response = Response(answer, 201, content_type=SDP)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    for server in turn.ice_servers(platform().settings, who):
        for link in server.links():
            response.headers.add("Link", link)
    return response


def _urls(event: Event) -> Any:
    return stage_urls(platform().settings.media_public_url, event.slug,
                      platform().media.stage_id(event.id))


# -- WHIP --------------------------------------------------------------------------------


@webcast_views.post("/whip/<slug>")
@media_endpoint
async def whip_publish(slug: str) -> Response:
    event = await _event(slug)
    await _authorise_publisher(event.id)
    offer = await _read_sdp()
    session_id, answer = await platform().media.stage_for_event(event.id).publish(offer)
    return _answer(answer, f"{_urls(event).whip}/{session_id}", f"stage-{event.id}")


@webcast_views.delete("/whip/<slug>/<session_id>")
@media_endpoint
async def whip_stop(slug: str, session_id: str) -> Response:
    event = await _event(slug)
    await _authorise_publisher(event.id)
    await platform().media.stage_for_event(event.id).unpublish(session_id)
    return Response("", 200)


# -- WHEP --------------------------------------------------------------------------------


@webcast_views.post("/whep/<slug>")
@media_endpoint
async def whep_view(slug: str) -> Response:
    event = await _event(slug)
    watcher = require_watcher(await _caller(event.id), event.id)
    owner = viewer_owner(watcher)
    offer = await _read_sdp()
    urls = _urls(event)
    stage = platform().media.stage_for_event(event.id)
    try:
        session_id, answer = await platform().need(WHEP_SESSIONS).open(stage, owner, offer)
    except StreamingError as exc:
        if exc.code != "stage.viewer_cap":
            raise
        return _over_cap(as_domain_error(exc), urls.hls)
    return _answer(answer, f"{urls.whep}/{session_id}", turn.user_of(watcher))


def _over_cap(error: DomainError, hls: str) -> Response:
    """503 with the HLS playlist as the alternative: the player switches to it by itself."""
    response = _error(error, hls=hls)
    response.headers["Link"] = f'<{hls}>; rel="alternate"; type="application/vnd.apple.mpegurl"'
    response.headers["Retry-After"] = "30"
    return response


@webcast_views.delete("/whep/<slug>/<session_id>")
@media_endpoint
async def whep_stop(slug: str, session_id: str) -> Response:
    event = await _event(slug)
    require_watcher(await _caller(event.id), event.id)
    await platform().media.stage_for_event(event.id).stop_view(session_id)
    return Response("", 200)


@webcast_views.get("/whep/<slug>")
@media_endpoint
async def whep_state(slug: str) -> Response:
    """The stage's state as the media node knows it, and where its HLS is."""
    event = await _event(slug)
    require_watcher(await _caller(event.id), event.id)
    body = {**stage_state(platform(), event.id), **_urls(event).as_dict()}
    response = _json(body, 200)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- HLS players in the viewer count ----------------------------------------------------------


async def _hls_player(slug: str, player_id: str) -> tuple[Any, str]:
    event = await _event(slug)
    principal = require_watcher(await _caller(event.id), event.id)
    if not _PLAYER_ID.match(player_id):
        raise DomainError("payload.invalid", "Spelarens id ska vara 8–64 tecken A-Z a-z 0-9 _ -.",
                          key="payload.invalid.player_id")
    return platform().media.stage_for_event(event.id), viewer_owner(principal)


@webcast_views.put("/whep/<slug>/hls/<player_id>")
@media_endpoint
async def hls_watching(slug: str, player_id: str) -> Response:
    """An HLS player says it is playing (every 10 s); it counts as a viewer for 30 s. The media
    node sees this where nginx serves the HLS files themselves without asking the app."""
    stage, owner = await _hls_player(slug, player_id)
    stage.hls_heartbeat(player_id, owner)
    return Response("", 204)


@webcast_views.delete("/whep/<slug>/hls/<player_id>")
@media_endpoint
async def hls_stopped(slug: str, player_id: str) -> Response:
    stage, owner = await _hls_player(slug, player_id)
    stage.hls_leave(player_id, owner)
    return Response("", 204)


# -- HLS ------------------------------------------------------------------------------------


@webcast_views.get("/media/hls/<stage_id>/<name>")
@media_endpoint
async def hls_file(stage_id: str, name: str) -> Response:
    """Live HLS for the event's participants and staff (nginx serves it in production)."""
    match = _HLS_NAME.match(name)
    if match is None:
        raise DomainError("not_found", "Ingen sådan fil.", key="not_found.file")
    require_hls_reader(await current_principal(), stage_id, platform().settings.secret_key)
    path = platform().settings.media_root / "hls" / stage_id / name
    if not path.is_file():
        raise DomainError("not_found", "Ingen sådan fil.", key="not_found.file")
    return await _hls_response(path, "." + match.group(1))


@webcast_views.get("/media/hls-auth")
async def hls_auth() -> Response:
    """nginx's `auth_request` before it serves a file of `/media/hls/` (deploy/nginx.conf):
    `X-Original-URI` is the file asked for, the cookie is the reader's. 200 lets nginx serve
    it; 401 or 403 (nginx passes only those on) refuses, a stage id nobody made included."""
    stage = _hls_stage(request.headers.get("X-Original-URI", ""))
    try:
        require_hls_reader(await current_principal(), stage, platform().settings.secret_key)
    except DomainError as exc:
        status = exc.status if exc.status == 401 else 403
        return Response("", status, headers={"Cache-Control": "no-store"})
    return Response("", 200, headers={"Cache-Control": "no-store"})


def _hls_stage(uri: str) -> str:
    """The stage id of `/media/hls/<stage>/<file>` (query and all else ignored), or ""."""
    prefix, _, rest = uri.partition("?")[0].partition("/media/hls/")
    stage, slash, _ = rest.partition("/")
    return stage if not prefix and slash else ""


async def _hls_response(path: Any, suffix: str) -> Response:
    response = await send_file(path, mimetype=HLS_TYPES[suffix], conditional=False)
    # Playlists change every segment; segments never change once listed.
    response.headers["Cache-Control"] = (
        "no-cache, no-store" if suffix == ".m3u8" else "private, max-age=86400, immutable"
    )
    return response


# -- the producer page ------------------------------------------------------------------------


@webcast_views.get("/e/<slug>/produce")
async def produce(slug: str) -> tuple[str, int, dict[str, str]]:
    await require_principal("moderator")
    event = await _event(slug)
    return with_devices(await render("webcast/produce.html", event=event))
