"""Recording and publication costs.

1. CPU of the media process (this one) serving one live synthetic 640x480 30 fps stage to
   watching viewers, with HLS and recording off and on, measured in the same run (the same
   encoder, the same viewers). Viewers are the stage's packet tracks drained as aiortc's
   senders drain them (RTP packetisation and SRTP are the same for every phase, so they are
   left out). Goal: recording adds at most 15 % to the stage's CPU (with HLS on, the
   production default; windows with and without recording alternate: see `stage_cpu`).
2. Time to publish a 10-minute recording (the stage's format: H.264 with 2 s key frames, AAC,
   fragmented MP4) with no re-encode: cut, MP4 faststart, HLS VOD, poster, WebVTT, BagIt bag
   with SHA-256 manifests, zip. Goal: under 10 % of the recording's duration.

Run: .venv/bin/python bench/recording.py [--minutes 10] [--window 8]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.recording.publication import _bag_and_zip  # noqa: E402
from streaming import MediaEngine, StreamingConfig  # noqa: E402
from streaming.hls import HlsPackager  # noqa: E402
from streaming.publish import Chapter, PublishSpec, WriteBudget, publish_media  # noqa: E402
from streaming.synthetic import StampedVideoTrack  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
VIEWERS = 10


async def _drain(track: Any) -> None:
    try:
        while True:
            await track.recv()
    except (MediaStreamError, asyncio.CancelledError):
        return


async def _cpu(seconds: float) -> float:
    """Percent of one core used by this process over `seconds`."""
    process = psutil.Process()
    before, start = process.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    after, wall = process.cpu_times(), time.monotonic() - start
    return 100 * ((after.user - before.user) + (after.system - before.system)) / wall


async def stage_cpu(root: Path, window: float, pairs: int) -> dict[str, Any]:
    """CPU of the stage with and without recording, in alternating windows.

    A small base makes noise look like overhead (one point of a core on a base of ten is
    10 %), so: the windows with recording (B) and without (A) alternate `pairs` times, each
    figure is the median of its windows (a load spike elsewhere on the machine hits one window,
    and A and B alike), and the spread of the A windows is printed beside the result as the
    noise the overhead has to be read against. Overhead = (median B - median A) / median A.
    """
    from server.platform.runtime import LoopWatch

    config = StreamingConfig(media_root=root, hls_enabled=False)
    lags: list[float] = []
    watch = LoopWatch(lags.append)
    await watch.start()
    async with MediaEngine(config) as engine:
        stage = engine.stage("bench")
        stage.attach_source(StampedVideoTrack(WIDTH, HEIGHT, FPS), AudioStreamTrack())
        viewers = [
            stage.hub.add_viewer_track(k) for _ in range(VIEWERS) for k in ("video", "audio")
        ]
        drains = [asyncio.create_task(_drain(t)) for t in viewers]
        await asyncio.sleep(2.0)
        watched = await _cpu(window)
        hls = HlsPackager(root / "hls" / "bench", config, stage.hub)
        stage.hub.add_sink(hls)  # the production default: HLS on, so its AAC encoder runs
        await asyncio.sleep(1.0)
        off: list[float] = []
        on: list[float] = []
        for _ in range(pairs):
            off.append(await _cpu(window))
            stage.start_recording()
            await asyncio.sleep(0.5)
            on.append(await _cpu(window))
            stage.stop_recording()
            await asyncio.sleep(0.5)
        stage.hub.remove_sink(hls)
        hls.close()
        await asyncio.sleep(1.0)
        stage.start_recording()  # recording alone: it now pays for the AAC encoder itself
        await asyncio.sleep(1.0)
        alone = await _cpu(window)
        stage.stop_recording()
        for task in drains:
            task.cancel()
    await watch.stop()
    base, with_rec = statistics.median(off), statistics.median(on)
    lags.sort()
    return {
        "watched": round(watched, 1),
        "watched+hls": round(base, 1), "watched+hls+recording": round(with_rec, 1),
        "windows_without": [round(v, 1) for v in off], "windows_with": [round(v, 1) for v in on],
        "noise_points": round(max(off) - min(off), 1),
        "watched+recording(no hls)": round(alone, 1),
        "loop_lag_ms_p99": round(1000 * lags[int(0.99 * (len(lags) - 1))], 1) if lags else None,
        "loop_lag_ms_max": round(1000 * lags[-1], 1) if lags else None,
    }


def make_recording(path: Path, minutes: float) -> float:
    """A stage-like recording made by ffmpeg (fast, not real time)."""
    started = time.monotonic()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(minutes * 60),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            str(2 * FPS),
            "-sc_threshold",
            "0",
            "-b:v",
            "1500k",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-b:a",
            "128k",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            str(path),
        ],
        check=True,
    )
    return time.monotonic() - started


def publish_time(root: Path, minutes: float) -> dict[str, Any]:
    source = root / "recording.mp4"
    made_in = make_recording(source, minutes)
    duration = minutes * 60
    staging = root / "publication"
    bag_dir = staging / "bag"
    spec = PublishSpec(
        source=source,
        out_dir=bag_dir / "media",
        trim_in=30.0,
        trim_out=duration - 30.0,
        poster_at=60.0,
        chapters=tuple(Chapter(60.0 * i, f"Punkt {i}") for i in range(int(minutes))),
        captions_vtt="WEBVTT\n\n00:00:31.000 --> 00:00:35.000\nHej\n",
    )
    started = time.monotonic()
    result = publish_media(spec, budget=WriteBudget(root))
    media_s = time.monotonic() - started
    (bag_dir / "metadata.json").write_text("{}")
    pub, event = SimpleNamespace(id=1, title="Bench"), SimpleNamespace(slug="bench")
    _bag_and_zip(bag_dir, pub, event, WriteBudget(root))  # type: ignore[arg-type]
    total_s = time.monotonic() - started
    return {
        "recording_minutes": minutes,
        "recording_mb": round(source.stat().st_size / 1e6, 1),
        "made_by_ffmpeg_s": round(made_in, 1),
        "published_duration_s": round(result.duration, 1),
        "media_s": round(media_s, 2),
        "total_s": round(total_s, 2),
        "ratio_of_duration": round(total_s / duration, 4),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=4.0, help="seconds per CPU window")
    parser.add_argument("--pairs", type=int, default=3, help="alternating windows without/with")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    try:
        cpu = await stage_cpu(root / "live", args.window, args.pairs)
        for name, value in cpu.items():
            print(f"{name:32s} {value}")
        added = cpu["watched+hls+recording"] - cpu["watched+hls"]
        ratio = max(0.0, added) / cpu["watched+hls"]
        alone = (cpu["watched+recording(no hls)"] - cpu["watched"]) / cpu["watched"]
        print(f"recording adds {added:.1f} points of a core to a watched stage with HLS (median "
              f"of {args.pairs} alternating windows each; noise: the windows without recording "
              f"spread {cpu['noise_points']} points) = {100 * ratio:.1f} % (goal <= 15 %)")
        print(f"on a stage without HLS, recording pays for its AAC encoder itself: "
              f"+{100 * alone:.0f} % (one window each; HLS is on in production)")
        pub = publish_time(root, args.minutes)
        print(
            f"publish {pub['recording_minutes']} min ({pub['recording_mb']} MB): {pub['total_s']} s"
            f" = {100 * pub['ratio_of_duration']:.2f} % of its duration (goal < 10 %)"
        )
        print(
            json.dumps(
                {
                    "viewers": VIEWERS,
                    "size": f"{WIDTH}x{HEIGHT}@{FPS}",
                    "cpu_percent": cpu,
                    "recording_overhead_ratio": round(ratio, 3),
                    "recording_overhead_points": round(added, 1),
                    "recording_without_hls_ratio": round(alone, 3),
                    "recording_goal_met": ratio <= 0.15,
                    "publish": pub,
                    "publish_goal_met": pub["ratio_of_duration"] < 0.10,
                }
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
