"""The browser shows a server error by its code from the page's catalogue (static/js/errors.js,
run in Node with a stand-in page by tests/js/errors_check.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def shown() -> dict[str, str]:
    run = subprocess.run(["node", "errors_check.mjs"],
                         cwd=JS, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_code_in_the_catalogue_is_shown_with_its_details_however_it_arrives(
    shown: dict[str, str],
) -> None:
    assert shown["byCode"] == "Wait 3 s."  # the catalogue's language, not the server's message
    assert shown["thrown"] == "Wait 5 s."  # request()'s rejection
    assert shown["ack"] == "Wait 7 s."  # a whole ack {ok: false, error}


def test_a_keyed_message_is_not_replaced_by_its_codes_general_text(shown: dict[str, str]) -> None:
    assert shown["byKey"] == "Only moderators can run polls."
    assert shown["keyedWithoutKey"] == "Only moderators can run polls."


def test_without_a_catalogue_entry_the_servers_message_then_a_generic_one(
    shown: dict[str, str],
) -> None:
    assert shown["unknownCode"] == "The server said so."
    assert shown["nothing"] == "An unexpected error occurred."
    assert shown["plainError"] == "timeout"
