"""Remote cursors travel as Yjs relative positions and follow the text (static/js/notes_cursors.js,
run in Node against the vendored Yjs by tests/js/notes_cursors_check.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def found() -> dict[str, object]:
    run = subprocess.run(["node", "--import", "./static_loader.mjs", "notes_cursors_check.mjs"],
                         cwd=JS, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_caret_follows_text_typed_before_it_counting_utf16(found: dict[str, object]) -> None:
    assert found["jsonSafe"] is True
    assert found["before"] == 4
    assert found["afterInsert"] == found["expectedAfterInsert"] == 13  # 🌻 is two UTF-16 units


def test_only_other_editors_in_this_theme_with_a_readable_cursor_are_drawn(
    found: dict[str, object],
) -> None:
    assert found["carets"] == [{"name": "Åsa Öberg", "anchor": 13, "head": 15}]


def test_a_caret_on_text_not_received_yet_waits_and_deletions_pull_it_back(
    found: dict[str, object],
) -> None:
    assert found["unseen"] is None
    assert found["seen"] == len("Malmö 🌻 Hej på er och Luleå".encode("utf-16-le")) // 2 - 2
    assert found["text"] == "Malmö 🌻 Hej på er och Luleå"
    assert found["afterDelete"] == 0


def test_each_client_keeps_one_dark_colour(found: dict[str, object]) -> None:
    first, other, again = found["colours"]  # type: ignore[misc]
    assert first == again and first != other and str(first).endswith("25%)")
