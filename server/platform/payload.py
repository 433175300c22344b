"""What no payload may carry, whatever its route: NUL characters (PostgreSQL refuses them in
text, and they make text that looks the same compare different) and nesting deeper than any
form of ours sends. Checked once at each boundary (socket events, forms, JSON bodies) before
validation, so a domain service never sees them."""

from __future__ import annotations

import json
import re
from typing import Any

from server.platform.errors import DomainError

MAX_DEPTH = 32


def check_payload(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise DomainError("payload.invalid", "Meddelandet är för djupt nästlat.",
                          key="payload.invalid.deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise DomainError("payload.invalid", "Texten innehåller otillåtna tecken.",
                              key="payload.invalid.nul")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_payload(key, depth + 1)
            check_payload(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_payload(item, depth + 1)


def json_depth(raw: str) -> int:
    """The deepest nesting of brackets in a JSON text (brackets inside strings count too: an
    over-count only refuses what no client of ours sends)."""
    if raw.count("[") + raw.count("{") <= MAX_DEPTH:  # the common case, at C speed
        return 0
    depth = deepest = 0
    for char in raw:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class TooDeep:
    """Stands in for a socket payload nested too deeply to parse (see SocketJson)."""


_EVENT_NAME = re.compile(r'\s*\[\s*("(?:[^"\\]|\\.){1,100}")')


class SocketJson:
    """The `json` module python-socketio decodes packets with, minus the recursion: Python's
    parser recurses per nesting level, and a packet nested 50,000 deep raised RecursionError
    inside the socket.io layer (a traceback per packet). Such a packet is handed on as the
    event it names with a `TooDeep` payload, and the event's router refuses it like any other
    invalid payload."""

    @staticmethod
    def dumps(*args: Any, **kwargs: Any) -> str:
        return json.dumps(*args, **kwargs)

    @staticmethod
    def loads(raw: str | bytes, *args: Any, **kwargs: Any) -> Any:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if json_depth(text) <= MAX_DEPTH:
            return json.loads(text, *args, **kwargs)
        name = _EVENT_NAME.match(text)
        return [json.loads(name.group(1)) if name else "", TooDeep()]
