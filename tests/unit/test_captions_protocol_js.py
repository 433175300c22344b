"""static/js/captions_protocol.js in Node: where a caption cue goes on the video's clock."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

SCRIPT = """
const { placeCue, cueText } = await import(%(module)s);
console.log(JSON.stringify({
  webrtc: placeCue(100, 0, null),
  hls: placeCue(100, 4.5, null),
  cut: placeCue(103, 0, { startTime: 100, endTime: 106 }),
  kept: placeCue(110, 0, { startTime: 100, endTime: 106 }),
  delayShrank: placeCue(101, 0, { startTime: 104.5, endTime: 110.5 }),
  text: cueText('Planer & mål <§ 18>'),
}));
"""


def test_cues_wait_for_the_live_delay_and_end_where_the_next_begins() -> None:
    module = json.dumps((ROOT / "static/js/captions_protocol.js").as_uri())
    out = subprocess.run(["node", "--input-type=module", "-e", SCRIPT % {"module": module}],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    got = json.loads(out)
    assert got["webrtc"] == {"start": 100, "end": 106, "previousEnd": None}
    assert got["hls"] == {"start": 104.5, "end": 110.5, "previousEnd": None}, (
        "on HLS the words wait until the picture they belong to is shown")
    assert got["cut"]["previousEnd"] == 103, "the previous line gives way to the new one"
    assert got["kept"]["previousEnd"] is None, "a line that already ended stays as it was"
    assert got["delayShrank"]["previousEnd"] == 104.5, "never ends before it starts"
    assert got["text"] == "Planer &amp; mål &lt;§ 18&gt;"
