"""Live HLS from a real WebRTC publisher, checked with ffprobe."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from streaming import MediaEngine, Stage, StreamingConfig
from streaming.peers import SyntheticPublisher

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # segments roll in real time


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


def _tag(playlist: str, name: str) -> int:
    return int(next(line for line in playlist.splitlines() if line.startswith(name)).split(":")[1])


def _durations(playlist: str) -> list[float]:
    return [float(line[8:].rstrip(",")) for line in playlist.splitlines()
            if line.startswith("#EXTINF:")]


async def test_default_two_second_segments_roll(tmp_path: Path) -> None:
    defaults = StreamingConfig(media_root=tmp_path)  # 2 s segments, a window of 6
    assert (defaults.hls_segment_seconds, defaults.hls_playlist_size) == (2.0, 6)
    # Rolling is the same at any window: a window of 3 shows it in half the real seconds.
    config = StreamingConfig(media_root=tmp_path, hls_playlist_size=3)
    window = config.hls_playlist_size
    async with MediaEngine(config) as engine:
        stage = engine.stage("main")
        assert stage.hls_playlist is not None
        folder = stage.hls_playlist.parent
        publisher, _ = await _publish(stage)
        await _wait_segments(stage.hls_playlist, window)
        first = stage.hls_playlist.read_text()
        assert _tag(first, "#EXT-X-TARGETDURATION") == 2
        # Rolling: once four more segments have left the window, the oldest file is gone too.
        async with asyncio.timeout(90):
            while (folder / "seg_000000.ts").exists():
                await asyncio.sleep(0.3)
        playlist = stage.hls_playlist.read_text()
        names = _segments(stage.hls_playlist)
        on_disk = sorted(p.name for p in folder.glob("seg_*.ts"))
        await publisher.close()

    assert _tag(playlist, "#EXT-X-MEDIA-SEQUENCE") > _tag(first, "#EXT-X-MEDIA-SEQUENCE")
    assert len(names) == window
    durations = _durations(first) + _durations(playlist)
    assert all(1.5 <= d <= 2.2 for d in durations), durations
    assert set(names) <= set(on_disk)  # everything listed is there
    # Besides the window: a few kept for slow clients and the one being written, nothing more.
    assert len(on_disk) <= window + 4, on_disk
    assert on_disk[0] > "seg_000000.ts"
