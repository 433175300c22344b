"""The media engine stays framework-free: no server, web framework or rooms imports."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = ("server", "rooms", "quart", "quart_schema", "socketio", "engineio", "hypercorn")
PACKAGE = Path(__file__).resolve().parents[2] / "streaming"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_streaming_imports_nothing_from_above() -> None:
    offenders = {
        path.name: sorted(_imports(path).intersection(FORBIDDEN))
        for path in PACKAGE.glob("*.py")
        if _imports(path).intersection(FORBIDDEN)
    }
    assert offenders == {}
