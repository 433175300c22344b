"""docs/protocol.md (with docs/protocol/*.md) names every socket event the server handles
and every event it sends."""

from __future__ import annotations

import re
from pathlib import Path

from server.features import FEATURES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# `emit("name"`, `ctx.emit("name"`, `sio.emit(\n "name"`, `self._emit("name"` and helpers that
# take the context first, like `_emit_both(ctx, "name"`.
EMIT = re.compile(r"""\b\w*emit\w*\(\s*(?:[\w.]+\s*,\s*)?["']([A-Za-z][\w.:-]*)["']""")


def handled_events() -> set[str]:
    return {route.name for f in FEATURES if f.router for route in f.router.routes}


def sent_events() -> dict[str, set[str]]:
    """Every event name the server emits literally, with the files that emit it."""
    names: dict[str, set[str]] = {}
    files = [p for p in (ROOT / "server").rglob("*.py") if "migrations" not in p.parts]
    for path in files:
        for match in EMIT.finditer(path.read_text(encoding="utf-8")):
            names.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
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


def test_every_event_the_server_sends_is_documented() -> None:
    text = documented_text()
    missing = {name: sorted(files) for name, files in sent_events().items()
               if f"`{name}`" not in text}
    assert missing == {}


def test_the_check_sees_the_sent_events() -> None:
    """The scan finds emits of every shape: direct, on a context, multi-line, through helpers."""
    assert {"presence.count", "presence.list", "programme.current", "error", "qa.question",
            "qa.votes", "breakout.assigned", "room_media.slots", "webcast.state",
            } <= set(sent_events())
