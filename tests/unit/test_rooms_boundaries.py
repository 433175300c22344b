"""rooms/ stays framework-free: no server, streaming, Quart or socket.io imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOMS = Path(__file__).resolve().parents[2] / "rooms"
FORBIDDEN = {"server", "streaming", "quart", "quart_schema", "socketio", "engineio", "aiortc"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_rooms_never_imports_the_web_or_media_layers() -> None:
    offenders = {
        path.name: sorted(imported_roots(path) & FORBIDDEN)
        for path in sorted(ROOMS.glob("*.py"))
        if imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}
    assert len(list(ROOMS.glob("*.py"))) >= 5  # the walk really saw the package
