"""The composition root: builds every service of a node from one Settings object."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import socketio
from quart import Quart, Response, g, request
from quart_schema import QuartSchema
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError as SQLAlchemyDBAPIError
from sqlalchemy.orm import configure_mappers

from server.features import FEATURES, TEMPLATE_FOLDERS
from server.ops.views import ops
from server.pages.api import api
from server.pages.views import pages
from server.platform import keys, logs, observe
from server.platform.auth import STAFF_ROLES, Tokens
from server.platform.connection import mount_connection
from server.platform.db import Database
from server.platform.errors import DomainError, log_unexpected, unavailable, unavailable_error
from server.platform.fanout import LocalManager, RedisManager
from server.platform.i18n import error_catalog
from server.platform.media import MediaService
from server.platform.node import Metrics, Platform
from server.platform.payload import SocketJson
from server.platform.presence import Presence
from server.platform.registration import FORGETTING, Forgetting
from server.platform.settings import Settings
from server.platform.sockets import mount
from server.platform.store import make_store
from server.platform.web import (
    EVENT_OF,
    bound_body,
    csrf_token,
    language,
    local_time,
    render,
    require_principal,
    security_headers,
    t,
)

ROOT = Path(__file__).resolve().parent.parent
SOCKET_BUFFER = 1_000_000
MAX_UPLOAD = 4 * 1024 * 1024


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    """The ASGI application: socket.io at /socket.io/, everything else served by Quart."""
    settings = settings or Settings()
    quart = _quart(settings)
    platform = _platform(settings)
    quart.extensions["traffpunkt"] = platform
    presence = Presence(platform)
    _platform_lifecycle(platform, presence)
    platform.provide(FORGETTING, Forgetting([f.forget for f in FEATURES if f.forget]))
    platform.provide(EVENT_OF, {name: find for f in FEATURES for name, find in f.events_of})
    mount_connection(platform, presence)
    mount(platform, [feature.router for feature in FEATURES if feature.router])
    for feature in FEATURES:  # in the declared order: a later one may need an earlier one
        if feature.install:
            feature.install(platform, quart)
    # The ORM's mappers are configured here, not by the first query: lazily, that took 60 ms of
    # the event loop in the middle of serving (seen by STALL_LOG_MS under bench/hostile.py),
    # after the collector had frozen the start-up heap (runtime.tune_gc).
    observe.install(platform)
    configure_mappers()
    quart.before_serving(platform.lifecycle.start)
    quart.after_serving(platform.lifecycle.stop)
    asgi = socketio.ASGIApp(platform.sio, other_asgi_app=quart)
    asgi.quart = quart
    asgi.platform = platform
    return asgi


def _platform(settings: Settings) -> Platform:
    manager = (
        RedisManager(settings.redis_url, channel=keys.SOCKETIO_CHANNEL)
        if settings.redis_url else LocalManager()
    )
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=manager, cors_allowed_origins=[settings.public_url],
        json=SocketJson,
        max_http_buffer_size=SOCKET_BUFFER, ping_interval=20, ping_timeout=20,
    )
    return Platform(
        settings=settings, db=Database(settings.database_url), tokens=Tokens(settings.secret_key),
        store=make_store(settings.redis_url, settings.node_id), sio=sio, metrics=Metrics(),
        media=MediaService(settings),
    )


def _quart(settings: Settings) -> Quart:
    app = Quart(
        "traffpunkt", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static")
    )
    app.secret_key = settings.secret_key
    app.config.update(
        SESSION_COOKIE_NAME="tp_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.production,
        # The largest body any route accepts (an upload); each route's own, smaller limit is
        # applied before the body is read (web.bound_body), forms and JSON get 64 kB.
        MAX_CONTENT_LENGTH=MAX_UPLOAD, MAX_FORM_PARTS=200, MAX_FORM_MEMORY_SIZE=MAX_UPLOAD,
    )
    QuartSchema(app, openapi_path="/openapi.json", swagger_ui_path="/api/docs",
                redoc_ui_path=None, scalar_ui_path=None,
                info={"title": "Träffpunkt API", "version": "1"})
    for blueprint in (pages, api, ops, *(f.blueprint for f in FEATURES if f.blueprint)):
        app.register_blueprint(blueprint)
    _observed(app)  # first: a refused request has its id and its time too
    app.before_request(bound_body)  # no view reads a body larger than its route allows
    _templating(app)
    _errors(app)
    return app


def _observed(app: Quart) -> None:
    """Every request under an id (nginx's `$request_id`, else our own) its log lines carry and
    its response names (`X-Request-ID`); its count and time by route in /metrics."""

    @app.before_request
    async def begin() -> None:
        logs.request_id.set(logs.new_request_id(request.headers.get("X-Request-ID")))
        g.started = time.perf_counter()

    @app.after_request
    async def end(response: Response) -> Response:
        metrics = app.extensions["traffpunkt"].metrics
        metrics.http_requests.labels(request.method, response.status_code).inc()
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started")
        if started is not None:
            metrics.http_seconds.labels(request.method, route).observe(
                time.perf_counter() - started)
        response.headers["X-Request-ID"] = logs.request_id.get()
        return response


def _templating(app: Quart) -> None:
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.globals["feature_templates"] = TEMPLATE_FOLDERS
    # the error catalogue of the page's language, for static/js/errors.js
    app.jinja_env.globals["error_strings"] = lambda: error_catalog(language())

    @app.context_processor
    async def globals_() -> dict[str, Any]:
        return {"t": t, "lang": language(), "csrf_token": csrf_token, "request": request}

    @app.after_request
    async def headers(response: Response) -> Response:
        security_headers(response, app.extensions["traffpunkt"].settings)
        return response

    @app.before_request
    async def api_docs() -> None:
        if request.path in ("/openapi.json", "/api/docs"):  # staff read the API's docs
            await require_principal(*STAFF_ROLES)


def _errors(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def domain_error(exc: DomainError) -> Any:
        if exc.status == 413:  # cheap: no page, no session lookup, for a body we never read
            return {"error": exc.as_dict(language())}, 413, exc.headers
        if _wants_json():
            return {"error": exc.as_dict(language())}, exc.status, exc.headers
        page, status = await render("error.html", exc.status, message=exc.text(language()))
        return page, status, exc.headers

    @app.errorhandler(ConnectionError)
    @app.errorhandler(TimeoutError)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(SQLAlchemyDBAPIError)
    async def dependency_error(exc: Exception) -> Any:
        """PostgreSQL or Redis did not answer (a restart, a failover): 503 with Retry-After,
        the request can be repeated; never a 500 for it. Anything else of these kinds is a bug
        and gets the 500 it would have had."""
        if not unavailable(exc):
            log_unexpected(f"{request.method} {request.path}", exc)
            return await domain_error(DomainError("server.error",
                                                  "Ett oväntat fel inträffade. Försök igen."))
        return await domain_error(unavailable_error(f"{request.method} {request.path}", exc))

    @app.errorhandler(413)
    async def too_large(_: Exception) -> Any:  # a chunked body that grew past its route's limit
        return await domain_error(DomainError("request.too_large", "Förfrågan är för stor."))

    @app.errorhandler(405)
    async def method_not_allowed(exc: Exception) -> Any:
        """JSON for WHIP/WHEP and the API (a WHIP client's PATCH for trickle ICE gets this: the
        session takes no trickle), with the methods that are allowed."""
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or ()))
        error = DomainError("method_not_allowed", "Metoden stöds inte här.")
        headers = {"Allow": allowed} if allowed else {}
        if _wants_json():
            return {"error": error.as_dict(language())}, 405, headers
        page, _ = await render("error.html", 405, message=error.text(language()))
        return page, 405, headers

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Any:
        if _wants_json():
            return {"error": {"code": "not_found", "message": "Not found"}}, 404
        return await render("error.html", 404, message=t("error.not_found"))


def _wants_json() -> bool:
    """API and WHIP/WHEP clients read JSON errors; browsers asking for pages get a page."""
    return (request.path.startswith(("/api/", "/whip/", "/whep/"))
            or request.accept_mimetypes.best == "application/json")


def _platform_lifecycle(platform: Platform, presence: Presence) -> None:
    """The platform's own steps come first: started before any feature, stopped after all."""
    watch = platform.metrics.loop_watch(platform.settings.stall_log_ms / 1000)
    platform.lifecycle.add("loop watch", watch.start, watch.stop)
    platform.lifecycle.add("database", None, platform.db.close)
    platform.lifecycle.add("store", platform.store.start, platform.store.stop)
    platform.lifecycle.add("media engine", platform.media.start, platform.media.stop)
    platform.lifecycle.add("event presence", None, presence.stop)
