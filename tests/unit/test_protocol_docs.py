"""docs/protocol.md (with docs/protocol/*.md) names every socket event the server handles."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import server.sockets as sockets
from server.sockets import Router

DOCS = Path(__file__).resolve().parents[2] / "docs"


def handled_events() -> set[str]:
    names: set[str] = set()
    for info in pkgutil.iter_modules(sockets.__path__):
        module = importlib.import_module(f"server.sockets.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Router):
                names |= {route.name for route in value.routes}
    return names


def documented_text() -> str:
    files = [DOCS / "protocol.md", *sorted((DOCS / "protocol").glob("*.md"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files if f.exists())


def test_every_socket_event_is_documented() -> None:
    text = documented_text()
    missing = sorted(name for name in handled_events() if f"`{name}`" not in text)
    assert missing == []


def test_the_check_sees_the_base_events() -> None:
    assert {"programme.set_current", "presence.get"} <= handled_events()
