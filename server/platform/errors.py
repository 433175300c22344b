"""Typed domain errors. Domain code raises them; only the socket and HTTP layers translate them:
the HTTP status from the one table below, the message from the error catalogue by code in the
reader's language (server/platform/i18n.py)."""

from __future__ import annotations

import logging

from server.platform.i18n import error_text

log = logging.getLogger("traffpunkt")

# HTTP status per error-code prefix or full code; the most specific entry wins. This is the
# only table: WHIP/WHEP's statuses (RFC 9725) are here beside everyone else's.
STATUS = {
    "auth": 401,
    "auth.forbidden": 403,
    "csrf": 403,
    "payload": 422,
    "not_found": 404,
    "method_not_allowed": 405,
    "qa.not_found": 404,
    "qa.rate_limited": 429,
    "qa.closed": 409,
    "event.not_found": 404,
    "programme.item_not_found": 404,
    "programme.theme_not_found": 404,
    "publication.item_not_recorded": 404,
    "programme.theme_exists": 409,
    "programme.theme_in_use": 409,
    "staff.exists": 409,
    "staff.username_taken": 409,
    "staff.link_invalid": 404,
    "staff.self": 409,
    "staff.no_email": 409,
    "staff.role_not_found": 404,
    "staff.admin_everywhere": 409,
    "staff.no_event": 422,
    "staff.unknown_region": 422,
    "feedback.document_invalid": 422,
    "feedback.document_not_found": 404,
    "feedback.question_not_found": 404,
    "feedback.document_too_large": 413,
    "feedback.document_limit": 409,
    "feedback.document_missing": 422,
    "feedback.question_invalid": 422,
    "feedback.question_limit": 409,
    "feedback.municipality_required": 422,
    "feedback.municipal_too_long": 422,
    "feedback.municipal_empty": 422,
    "proposals.limit": 409,
    "proposals.theme": 422,
    "proposals.region": 422,
    "proposals.not_accepted": 409,
    "proposals.already_taken": 409,
    "proposals.target": 422,
    "followup.not_your_region": 403,
    "followup.before_webcast": 422,
    "followup.unknown_region": 422,
    "followup.unknown_item": 422,
    "followup.unknown_theme": 422,
    "followup.region": 422,
    "followup.too_many": 409,
    "followup.closed": 409,
    "registration.full": 409,
    "registration.closed": 409,
    "registration.not_open": 409,
    "room.not_member": 403,
    # the media engine at the WHIP/WHEP boundary (RFC 9725 and WHEP)
    "sdp.invalid": 400,
    "sdp.unsupported_media_type": 415,
    "sdp.too_large": 413,
    "stage.invalid_id": 400,
    "stage.busy": 409,
    "stage.offline": 409,
    "stage.viewer_cap": 503,
    "session.not_found": 404,
    "service.unavailable": 503,
    "server.error": 500,
    "engine.not_running": 503,
}

SUFFIX_STATUS = {
    "not_found": 404, "forbidden": 403, "rate_limited": 429, "conflict": 409, "locked": 409,
    "too_large": 413,
}


def status_of(code: str) -> int:
    """Most specific entry of STATUS; else by the code's last part; else 400."""
    parts = code.split(".")
    if parts[-1] in SUFFIX_STATUS and code not in STATUS:
        return SUFFIX_STATUS[parts[-1]]
    for n in range(len(parts), 0, -1):
        status = STATUS.get(".".join(parts[:n]))
        if status:
            return status
    return 400


class DomainError(Exception):
    """A failure the user should hear about: a stable dotted `code` and a human `message`.

    `message` is the Swedish text (logs, the command line, and the fallback); what a reader
    sees is the catalogue's text for `key` (default: the code) in their language, with
    `details` filled in. A code raised with different messages in different places gives each
    place a `key` of its own (`feedback.already_submitted.changed`)."""

    def __init__(self, code: str, message: str, *, key: str | None = None,
                 **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.key = key or code
        self.details = details

    @property
    def status(self) -> int:
        return status_of(self.code)

    def text(self, lang: str) -> str:
        """The message in `lang`: the catalogue's, or the raise site's Swedish one."""
        return error_text(lang, self.key, self.details) or self.message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the error asks for: `Retry-After` on a rate limit; on a body too large,
        `Connection: close`, so the server does not read (and parse) the rest of it only to
        keep the connection open."""
        wait = self.details.get("retry_after")
        headers = {"Retry-After": str(wait)} if isinstance(wait, int) else {}
        if self.status == 413:
            headers["Connection"] = "close"
        return headers

    def as_dict(self, lang: str = "sv") -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.text(lang)}
        if self.key != self.code:  # the browser's catalogue has this place's own message
            body["key"] = self.key
        if self.details:
            body["details"] = self.details
        return body


class Forbidden(DomainError):
    """`auth.forbidden`; a raise site with a message of its own names its `key`."""

    def __init__(self, message: str = "Du har inte behörighet till detta.", *,
                 key: str | None = None, **details: object) -> None:
        super().__init__("auth.forbidden", message, key=key, **details)


class NotFound(DomainError):
    def __init__(self, what: str = "not_found", message: str = "Hittades inte.", *,
                 key: str | None = None, **details: object) -> None:
        super().__init__(what, message, key=key, **details)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is PostgreSQL or Redis not answering: the action was
    not done and may be repeated in a moment (a restart, a failover), not a bug."""
    import asyncpg
    import redis.exceptions
    import sqlalchemy.exc

    kinds = (ConnectionError, TimeoutError, redis.exceptions.ConnectionError,
             redis.exceptions.TimeoutError, asyncpg.exceptions.CannotConnectNowError,
             asyncpg.exceptions.ConnectionDoesNotExistError,
             asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError)
    seen: BaseException | None = exc
    for _ in range(8):  # the chain of causes, not forever
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, sqlalchemy.exc.InterfaceError):  # the connection closed under it
            return True
        orig = getattr(seen, "orig", None) if isinstance(seen, sqlalchemy.exc.DBAPIError) else None
        seen = orig or seen.__cause__ or seen.__context__
    return False


def unavailable_error(where: str, exc: BaseException) -> DomainError:
    """What a client is told when a dependency did not answer (logged as a warning: the
    dashboard shows the dependency down, a traceback per request would drown the log)."""
    log.warning("%s: a dependency did not answer: %r", where, exc)
    return DomainError("service.unavailable",
                       "Tjänsten svarar inte just nu. Försök igen om en stund.", retry_after=5)


def log_unexpected(where: str, exc: BaseException) -> None:
    """The one hook every broad catch goes through, so nothing fails silently."""
    log.error("unexpected error in %s: %r", where, exc, exc_info=exc)
