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


def _probe(path: Path) -> set[tuple[str, int]]:
    """(codec, picture height or 0) of each stream of a file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,height", "-of", "json",
         str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {(s["codec_name"], s.get("height", 0)) for s in json.loads(out)["streams"]}


def _segments(playlist: Path) -> list[str]:
    if not playlist.exists():
        return []
    return [line for line in playlist.read_text().splitlines() if line.endswith(".ts")]


async def _wait_segments(playlist: Path, count: int) -> list[str]:
    async with asyncio.timeout(30):
        while len(_segments(playlist)) < count:
            await asyncio.sleep(0.2)
    return _segments(playlist)


async def _publish(stage: Stage, size: tuple[int, int] = (320, 240)
                   ) -> tuple[SyntheticPublisher, str]:
    publisher = SyntheticPublisher(*size)
    ids: list[str] = []

    async def exchange(offer: str) -> str:
        session_id, answer = await stage.publish(offer)
        ids.append(session_id)
        return answer

    await publisher.connect(exchange)
    return publisher, ids[0]


async def test_two_renditions_of_h264_and_aac_with_discontinuity(tmp_path: Path) -> None:
    """The master playlist names 720p and 360p; each has its own segments, the same audio,
    segments cut on the same frames, and the comeback's discontinuity."""
    config = StreamingConfig(media_root=tmp_path, hls_segment_seconds=1.0)
    async with MediaEngine(config) as engine:
        stage = engine.stage("main")
        assert stage.hls_playlist is not None
        high, low = stage.hls_variants
        publisher, session_id = await _publish(stage, (640, 480))  # 640x480 and 480x360
        for variant, height in ((high, 480), (low, 360)):
            names = await _wait_segments(variant, 2)
            assert _probe(variant.parent / names[-1]) == {("h264", height), ("aac", 0)}
        master = stage.hls_playlist.read_text()
        assert master.splitlines()[-4:] == [
            '#EXT-X-STREAM-INF:BANDWIDTH=2878000,RESOLUTION=640x480,'
            'CODECS="avc1.42e01f,mp4a.40.2",FRAME-RATE=30.000', "720p.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=788000,RESOLUTION=480x360,'
            'CODECS="avc1.42e01f,mp4a.40.2",FRAME-RATE=30.000', "360p.m3u8"]
        await stage.unpublish(session_id)
        await publisher.close()
        before = len(_segments(low))
        comeback, _ = await _publish(stage, (640, 480))
        await _wait_segments(low, before + 1)
        await _wait_segments(high, before + 1)
        for variant in (high, low):
            assert "#EXT-X-DISCONTINUITY\n" in variant.read_text()
        await comeback.close()
    for variant in (high, low):
        assert variant.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    # Aligned: segment n of one rendition lasts as long as segment n of the other.
    assert _durations(high.read_text()) == _durations(low.read_text())


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
        playlist_path = stage.hls_variants[0]
        folder = playlist_path.parent
        publisher, _ = await _publish(stage)
        await _wait_segments(playlist_path, window)
        first = playlist_path.read_text()
        assert _tag(first, "#EXT-X-TARGETDURATION") == 2
        # Rolling: once four more segments have left the window, the oldest file is gone too.
        async with asyncio.timeout(90):
            while (folder / "720p_000000.ts").exists():
                await asyncio.sleep(0.3)
        playlist = playlist_path.read_text()
        names = _segments(playlist_path)
        on_disk = sorted(p.name for p in folder.glob("720p_*.ts"))
        await publisher.close()

    assert _tag(playlist, "#EXT-X-MEDIA-SEQUENCE") > _tag(first, "#EXT-X-MEDIA-SEQUENCE")
    assert len(names) == window
    durations = _durations(first) + _durations(playlist)
    assert all(1.5 <= d <= 2.2 for d in durations), durations
    assert set(names) <= set(on_disk)  # everything listed is there
    # Besides the window: a few kept for slow clients and the one being written, nothing more.
    assert len(on_disk) <= window + 4, on_disk
    assert on_disk[0] > "720p_000000.ts"


async def test_a_restarted_stage_goes_on_with_the_playlist(tmp_path: Path) -> None:
    """The media process is killed and started again on the same folder: the playlist players
    keep reloading goes on (sequences never decrease, each segment keeps its sequence number,
    the comeback is a discontinuity) and no listed segment's file is replaced (they are served
    as immutable)."""
    config = StreamingConfig(media_root=tmp_path, hls_segment_seconds=1.0)
    async with MediaEngine(config) as engine:
        stage = engine.stage("main")
        variant = stage.hls_variants[0]
        publisher, _ = await _publish(stage)
        await _wait_segments(variant, 3)
        killed = variant.read_text()  # what a SIGKILL leaves: no end, files written past it
        await publisher.close()
    variant.write_text(killed)
    listed = _segments(variant)
    unlisted = sorted({p.name for p in variant.parent.glob("720p_*.ts")} - set(listed))
    assert unlisted and unlisted[0] > listed[-1]  # the one being written when it died
    before = {name: (variant.parent / name).read_bytes() for name in listed}
    async with MediaEngine(config) as engine:
        stage = engine.stage("main")
        assert variant.read_text() == killed  # untouched until the first new segment
        publisher, _ = await _publish(stage)
        names = await _wait_segments(variant, len(listed) + 2)
        playlist = variant.read_text()
        await publisher.close()
    assert names[: len(listed)] == listed  # the old window is still there, in order
    sequence = _tag(playlist, "#EXT-X-MEDIA-SEQUENCE")
    assert sequence == _tag(killed, "#EXT-X-MEDIA-SEQUENCE")
    # A segment's sequence number is its place in the playlist: the names follow it.
    assert names == [f"720p_{sequence + n:06d}.ts" for n in range(len(names))]
    lines = playlist.splitlines()
    first_new = names[len(listed)]
    assert lines[lines.index(first_new) - 2] == "#EXT-X-DISCONTINUITY"
    assert all((variant.parent / name).read_bytes() == data for name, data in before.items())
    assert _tag(playlist, "#EXT-X-DISCONTINUITY-SEQUENCE") >= _tag(
        killed, "#EXT-X-DISCONTINUITY-SEQUENCE")
