"""Live HLS from a real WebRTC publisher, checked with ffprobe."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from streaming import MediaEngine, Stage, StreamingConfig
from streaming.peers import SyntheticPublisher

pytestmark = pytest.mark.integration


def _probe_codecs(path: Path) -> set[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {s["codec_name"] for s in json.loads(out)["streams"]}


def _segments(playlist: Path) -> list[str]:
    if not playlist.exists():
        return []
    return [line for line in playlist.read_text().splitlines() if line.endswith(".ts")]


async def _wait_segments(playlist: Path, count: int) -> list[str]:
    async with asyncio.timeout(30):
        while len(_segments(playlist)) < count:
            await asyncio.sleep(0.2)
    return _segments(playlist)


async def _publish(stage: Stage) -> tuple[SyntheticPublisher, str]:
    publisher = SyntheticPublisher()
    ids: list[str] = []

    async def exchange(offer: str) -> str:
        session_id, answer = await stage.publish(offer)
        ids.append(session_id)
        return answer

    await publisher.connect(exchange)
    return publisher, ids[0]


async def test_playlist_segments_are_h264_and_aac_with_discontinuity(tmp_path: Path) -> None:
    config = StreamingConfig(media_root=tmp_path, hls_segment_seconds=1.0)
    async with MediaEngine(config) as engine:
        stage = engine.stage("main")
        assert stage.hls_playlist is not None
        publisher, session_id = await _publish(stage)
        names = await _wait_segments(stage.hls_playlist, 2)
        assert _probe_codecs(stage.hls_playlist.parent / names[-1]) == {"h264", "aac"}
        await stage.unpublish(session_id)
        await publisher.close()
        before = len(_segments(stage.hls_playlist))
        comeback, _ = await _publish(stage)
        await _wait_segments(stage.hls_playlist, before + 1)
        assert "#EXT-X-DISCONTINUITY\n" in stage.hls_playlist.read_text()
        await comeback.close()
    assert stage.hls_playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
