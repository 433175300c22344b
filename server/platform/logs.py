"""Logging, configured in one place (`configure`, called by `traffpunkt serve` and `demo`;
LOG_LEVEL, LOG_FORMAT):
one JSON object per line in production, for a log shipper; a readable line in development.
Every record carries its node and the request or socket event it belongs to, so the lines of
one request, on one of several nodes, can be found together (nginx passes its `$request_id` as
`X-Request-ID`; a request without one gets its own, and the response says which).

python-json-logger does the JSON (fields stay fields, exceptions become one string); the rest is
the standard library's `logging.config`.
"""

from __future__ import annotations

import logging
import logging.config
import re
import secrets
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("request_id", default="")
socket_event: ContextVar[str] = ContextVar("socket_event", default="")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
FIELDS = ("node", "request_id", "socket_event")


def new_request_id(given: str | None) -> str:
    """The id a request is logged under: the proxy's, when it is a sane token, else our own
    (a client cannot inject a line break or a megabyte into every log line)."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return secrets.token_hex(8)


class Context(logging.Filter):
    """Adds the node and the current request's or socket event's id to every record."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        record.request_id = request_id.get()
        record.socket_event = socket_event.get()
        return True


def config(*, json: bool, node: str, level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` of a serving process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": Context, "node": node}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s " + " ".join(f"%({f})s" for f in FIELDS),
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",  # ISO 8601, UTC
                "json_ensure_ascii": False,
            },
            "text": {
                "format": "%(asctime)s %(levelname)-7s %(name)s "
                          "[%(node)s %(request_id)s%(socket_event)s] %(message)s",
            },
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                       "formatter": "json" if json else "text", "filters": ["context"]},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {  # libraries that narrate every packet or query at INFO
            "aioice": {"level": "WARNING"},
            "aiortc": {"level": "WARNING"},
            "sqlalchemy": {"level": "WARNING"},
            "engineio": {"level": "WARNING"},
            "socketio": {"level": "WARNING"},
            "hypercorn.access": {"level": "INFO"},
        },
    }


def configure(*, json: bool, node: str, level: str = "INFO") -> None:
    logging.config.dictConfig(config(json=json, node=node, level=level))
