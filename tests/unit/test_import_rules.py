"""The layering rule of DESIGN.md: rooms/ and streaming/ import neither server/ nor each other,
nor the web stack. Checked on the source with an AST walk, so a lazy import inside a function
counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB_STACK = {"quart", "quart_schema", "socketio", "engineio", "hypercorn", "werkzeug", "flask"}
FORBIDDEN = {
    "rooms": {"server", "streaming", *WEB_STACK},
    "streaming": {"server", "rooms", *WEB_STACK},
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            roots.add("..relative-out-of-package")
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_core_packages_stay_framework_free(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            imported_roots(path) & (FORBIDDEN[package] | {"..relative-out-of-package"})
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_walker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from server.app import create_app\n    import socketio\n")
    assert imported_roots(bad) >= {"server", "socketio"}
