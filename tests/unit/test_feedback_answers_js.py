"""static/js/feedback_answers.js in Node: how the autosave script tells its own lost save from
someone else's newer version after a `feedback.conflict`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

MODULE = Path(__file__).resolve().parents[2] / "static" / "js" / "feedback_answers.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node")


def call(function: str, *args: Any) -> Any:
    script = (
        f"import {{ {function} }} from {json.dumps(MODULE.as_uri())};\n"
        f"console.log(JSON.stringify({function}(...{json.dumps(list(args))})));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True, text=True, check=True, timeout=30,
    )
    return json.loads(out.stdout)


def test_answers_compare_as_the_server_stores_them() -> None:
    stored = {"uppfoljning": "Malmö följer upp", "betyg_dagen": 4, "val": ["a", "b"]}
    page = {"uppfoljning": " Malmö följer upp \n", "betyg_dagen": "4", "val": ["b", "a"],
            "annat": "", "tom": []}
    assert call("sameAnswers", stored, page) is True
    assert call("sameAnswers", stored, {**page, "uppfoljning": "Malmö följer upp!"}) is False


def test_a_stored_version_holding_the_pages_own_save_is_adopted() -> None:
    draft = {"status": "draft", "locked": False, "answers": {"uppfoljning": "Första"}}
    lost = [{"uppfoljning": "Första "}]
    assert call("afterConflict", draft, lost, {"uppfoljning": "Första och mer"}) == "adopt"
    shown = {"uppfoljning": "Första"}
    assert call("afterConflict", draft, [], shown) == "adopt", "the page shows what is stored"
    mine = {"uppfoljning": "Mitt"}
    assert call("afterConflict", draft, [mine], mine) == "conflict", "someone else's text"
    submitted = {**draft, "status": "submitted"}
    assert call("afterConflict", submitted, lost, mine) == "closed"
    assert call("afterConflict", {**draft, "locked": True}, lost, mine) == "closed"
