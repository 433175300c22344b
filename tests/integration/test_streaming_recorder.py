"""Recording survives SIGKILL and pauses across a publisher drop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack

from streaming.config import StreamingConfig
from streaming.hub import StageHub
from streaming.recorder import Recorder
from streaming.synthetic import StampedVideoTrack
from tests.media import probe as _probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # real-time recordings and a child process
FRAGMENT_SECONDS = 0.5

CHILD = f"""
import asyncio, sys
from pathlib import Path
from aiortc.mediastreams import AudioStreamTrack
from streaming.config import StreamingConfig
from streaming.hub import StageHub
from streaming.recorder import Recorder
from streaming.synthetic import StampedVideoTrack

async def main():
    root = Path(sys.argv[1])
    config = StreamingConfig(media_root=root, record_fragment_seconds={FRAGMENT_SECONDS})
    hub = StageHub(config)
    recorder = Recorder(Path(sys.argv[1]), config, hub)
    hub.add_sink(recorder)
    hub.source_started()
    hub.attach(StampedVideoTrack(320, 240, 30))
    hub.attach(AudioStreamTrack())
    print(recorder.path, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _codecs(probe: dict[str, object]) -> set[str]:
    return {s["codec_name"] for s in probe["streams"]}  # type: ignore[attr-defined,index]


def _decodes(path: Path) -> bool:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True
    )
    return done.returncode == 0


def test_sigkill_mid_recording_leaves_a_playable_file(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert child.stdout is not None
    path = Path(child.stdout.readline().strip())
    deadline = time.monotonic() + 30
    # The recorder creates the file when it writes the first key frame: that is time 0.
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    first_key = time.monotonic()
    while (path.stat().st_size < 100_000 or time.monotonic() - first_key < 4.0) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    killed = time.monotonic()
    child.send_signal(signal.SIGKILL)
    child.wait()
    probe = _probe(path)
    assert _codecs(probe) == {"h264", "aac"}
    # At most the fragment being written is lost (plus half a second of slack for the kill
    # and the encoder's pipeline).
    elapsed = killed - first_key
    assert float(probe["format"]["duration"]) >= elapsed - FRAGMENT_SECONDS - 0.5  # type: ignore[index]
    assert _decodes(path)


async def test_publisher_drop_pauses_without_a_gap(tmp_path: Path) -> None:
    config = StreamingConfig(media_root=tmp_path)
    hub = StageHub(config)
    recorder = Recorder(tmp_path, config, hub)
    hub.add_sink(recorder)
    started = time.monotonic()
    for _ in range(2):
        hub.source_started()
        hub.attach(StampedVideoTrack(320, 240, 30))
        hub.attach(AudioStreamTrack())
        await asyncio.sleep(1.5)  # real-time media: the recording and the gap are the subject
        hub.source_stopped()
        await asyncio.sleep(2.5)
    wall = time.monotonic() - started
    recorder.close()
    await hub.stop()
    probe = _probe(recorder.path)
    assert _codecs(probe) == {"h264", "aac"}
    # The 2.5 s pauses are not in the file: it is much shorter than the wall-clock span.
    assert float(probe["format"]["duration"]) < wall - 3.0  # type: ignore[index]
    assert _decodes(recorder.path)
