"""Typed domain errors. Domain code raises them; only the socket and HTTP layers translate them."""

from __future__ import annotations

import logging

log = logging.getLogger("traffpunkt")

# HTTP status per error-code prefix or full code; the most specific entry wins.
STATUS = {
    "auth": 401,
    "auth.forbidden": 403,
    "csrf": 403,
    "payload": 422,
    "not_found": 404,
    "qa.not_found": 404,
    "qa.rate_limited": 429,
    "qa.closed": 409,
    "event.not_found": 404,
    "room.not_member": 403,
}

SUFFIX_STATUS = {
    "not_found": 404, "forbidden": 403, "rate_limited": 429, "conflict": 409, "locked": 409,
    "too_large": 413,
}


class DomainError(Exception):
    """A failure the user should hear about: a stable dotted `code` and a human `message`."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        """Most specific entry of STATUS; else by the code's last part; else 400."""
        parts = self.code.split(".")
        if parts[-1] in SUFFIX_STATUS and ".".join(parts) not in STATUS:
            return SUFFIX_STATUS[parts[-1]]
        for n in range(len(parts), 0, -1):
            status = STATUS.get(".".join(parts[:n]))
            if status:
                return status
        return 400

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class Forbidden(DomainError):
    def __init__(self, message: str = "Du har inte behörighet till detta.") -> None:
        super().__init__("auth.forbidden", message)


class NotFound(DomainError):
    def __init__(self, what: str = "not_found", message: str = "Hittades inte.") -> None:
        super().__init__(what, message)


def log_unexpected(where: str, exc: BaseException) -> None:
    """The one hook every broad catch goes through, so nothing fails silently."""
    log.error("unexpected error in %s: %r", where, exc, exc_info=exc)
