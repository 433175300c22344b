"""Webcast fan-out: how many WebRTC viewers one media process serves, and latency.

Run with no arguments. The media process (this one) serves one synthetic
1280x720 30 fps stage; viewers are aiortc peers in a separate process that
count frames without decoding them (decoding is the viewer's CPU, not ours).
A stepped search adds viewers until fewer than 95 % of frames arrive on time
(within 200 ms of their best delay), for the encode-once path and for the
aiortc MediaRelay + per-viewer-encode baseline, in the same run. Then it
measures glass-to-glass latency (WebRTC publisher -> stage -> decoding viewer,
capture time stamped in the picture) and HLS packaging latency.
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streaming import MediaEngine, StreamingConfig  # noqa: E402
from streaming.synthetic import StampedVideoTrack, read_stamp, stamp_age_ms  # noqa: E402

WIDTH, HEIGHT, FPS = 1280, 720, 30
BITRATE = 1_500_000
WARMUP_S, WINDOW_S = 2.0, 5.0
ON_TIME_S = 0.2
GOAL = 0.95
STEPS = {"encode_once": [5, 10, 20, 30, 35, 40, 45, 50, 60, 80, 100],
         "relay": [1, 2, 3, 4, 5, 6, 8]}
VIEWER_PROCESSES = 2  # one aiortc process receiving 30 streams saturates its core before we do


# --------------------------------------------------------------------------- viewer process


@dataclass
class _Arrivals:
    times: dict[int, float] = field(default_factory=dict)  # rtp timestamp -> first arrival


def _install_counting_decoder(registry: list[_Arrivals]) -> None:
    """Viewers count frames instead of decoding them (bench only)."""
    import aiortc.rtcrtpreceiver as receiver

    class CountingDecoder:
        def __init__(self) -> None:
            self.arrivals = _Arrivals()
            registry.append(self.arrivals)

        def decode(self, encoded_frame: Any) -> list[Any]:
            self.arrivals.times.setdefault(encoded_frame.timestamp, time.monotonic())
            return []

    original = receiver.get_decoder

    def get_decoder(codec: Any) -> Any:
        return CountingDecoder() if codec.mimeType.lower().startswith("video") else original(codec)

    receiver.get_decoder = get_decoder


def _on_time(arrivals: _Arrivals, start: float, end: float) -> int:
    items = [(ts, t) for ts, t in arrivals.times.items() if start <= t < end]
    if not items:
        return 0
    delays = [t - ts / 90000 for ts, t in items]
    best = min(delays)
    return sum(1 for d in delays if d - best <= ON_TIME_S)


async def _client(conn: Connection) -> None:
    from streaming.peers import ViewerPeer

    registry: list[_Arrivals] = []
    _install_counting_decoder(registry)
    peers: list[ViewerPeer] = []
    async with ClientSession() as http:
        while True:
            cmd, arg = await asyncio.to_thread(conn.recv)
            if cmd == "add":
                url, count = arg

                async def one(url: str = url) -> ViewerPeer:
                    peer = ViewerPeer()

                    async def exchange(offer: str) -> str:
                        async with http.post(url, data=offer) as resp:
                            resp.raise_for_status()
                            return await resp.text()

                    await peer.connect(exchange)
                    return peer

                for start in range(0, count, 10):
                    batch = min(10, count - start)
                    peers += await asyncio.gather(*(one() for _ in range(batch)))
                conn.send("ok")
            elif cmd == "measure":
                start = time.monotonic()
                await asyncio.sleep(arg)
                end = time.monotonic()
                recent = registry[-len(peers) :] if peers else []
                conn.send([_on_time(a, start, end) for a in recent])
            elif cmd == "reset":
                await asyncio.gather(*(p.close() for p in peers))
                peers.clear()
                registry.clear()
                conn.send("ok")
            elif cmd == "latency":
                conn.send(await _latency_client(http, *arg))
            elif cmd == "quit":
                conn.send("ok")
                return


async def _latency_client(
    http: ClientSession, publish_url: str, view_url: str, seconds: float
) -> list[int]:
    """A WebRTC publisher and one decoding viewer; returns stamp ages in ms."""
    import aiortc.rtcrtpreceiver as receiver
    from aiortc.codecs import get_decoder as real_decoder

    from streaming.peers import SyntheticPublisher, ViewerPeer

    receiver.get_decoder = real_decoder  # this viewer decodes, to read the stamps

    async def post(url: str, offer: str) -> str:
        async with http.post(url, data=offer) as resp:
            resp.raise_for_status()
            return await resp.text()

    publisher = SyntheticPublisher(WIDTH, HEIGHT, FPS)
    await publisher.connect(lambda offer: post(publish_url, offer))
    viewer = ViewerPeer()
    await viewer.connect(lambda offer: post(view_url, offer))
    await viewer.wait_video_frames(30, timeout=30)
    viewer.latencies_ms.clear()
    await asyncio.sleep(seconds)
    result = list(viewer.latencies_ms)
    await viewer.close()
    await publisher.close()
    return result


def _client_main(conn: Connection) -> None:
    asyncio.run(_client(conn))


class ViewerPool:
    """Viewer processes; `add` spreads new viewers over them, `measure` asks them all at once."""

    def __init__(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[psutil.Process] = []
        self._workers = []
        for _ in range(count):
            parent, child_end = ctx.Pipe()
            worker = ctx.Process(target=_client_main, args=(child_end,), daemon=True)
            worker.start()
            self.pipes.append(parent)
            self._workers.append(worker)
            self.procs.append(psutil.Process(worker.pid))
        self._next = 0

    async def add(self, url: str, count: int) -> None:
        shares = [0] * len(self.pipes)
        for _ in range(count):
            shares[self._next] += 1
            self._next = (self._next + 1) % len(self.pipes)
        await asyncio.gather(*(_ask(pipe, "add", (url, n))
                               for pipe, n in zip(self.pipes, shares, strict=True) if n))

    async def measure(self, seconds: float) -> list[int]:
        answers = await asyncio.gather(*(_ask(pipe, "measure", seconds) for pipe in self.pipes))
        return [n for answer in answers for n in answer]

    async def reset(self) -> None:
        await asyncio.gather(*(_ask(pipe, "reset") for pipe in self.pipes))
        self._next = 0

    async def latency(self, arg: Any) -> Any:
        return await _ask(self.pipes[0], "latency", arg)

    def cpu_percent(self) -> float:
        return sum(p.cpu_percent(None) for p in self.procs)

    async def quit(self) -> None:
        await asyncio.gather(*(_ask(pipe, "quit") for pipe in self.pipes))
        for worker in self._workers:
            worker.join(timeout=10)


# --------------------------------------------------------------------------- media process


class Media:
    """The media process: an engine per fan-out mode behind tiny WHIP/WHEP-like routes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.engines: dict[str, MediaEngine] = {}
        self.proc = psutil.Process()

    async def start(self) -> str:
        for mode in ("encode_once", "relay"):
            config = StreamingConfig(
                media_root=self.root / mode,
                fanout=mode,
                viewer_cap=1000,  # type: ignore[arg-type]
                video_bitrate=BITRATE,
                fps=FPS,
                hls_enabled=mode == "encode_once",
            )
            self.engines[mode] = MediaEngine(config)
            await self.engines[mode].start()
        app = web.Application()
        app.router.add_post("/{mode}/{stage}/view", self._view)
        app.router.add_post("/{mode}/{stage}/publish", self._publish)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def _view(self, request: web.Request) -> web.Response:
        stage = self.engines[request.match_info["mode"]].stage(request.match_info["stage"])
        _, answer = await stage.view(await request.text())
        return web.Response(text=answer)

    async def _publish(self, request: web.Request) -> web.Response:
        stage = self.engines[request.match_info["mode"]].stage(request.match_info["stage"])
        _, answer = await stage.publish(await request.text())
        return web.Response(text=answer)

    async def stop(self) -> None:
        await self.runner.cleanup()
        for engine in self.engines.values():
            await engine.stop()


async def _ask(conn: Connection, cmd: str, arg: Any = None) -> Any:
    conn.send((cmd, arg))
    return await asyncio.to_thread(conn.recv)


async def _search(media: Media, viewers: ViewerPool, base: str, mode: str) -> dict[str, Any]:
    from aiortc.mediastreams import AudioStreamTrack

    stage = media.engines[mode].stage("fanout")
    stage.attach_source(StampedVideoTrack(WIDTH, HEIGHT, FPS), AudioStreamTrack())
    await asyncio.sleep(1.0)
    best, best_cpu, have, steps = 0, 0.0, 0, []
    for target in STEPS[mode]:
        await viewers.add(f"{base}/{mode}/fanout/view", target - have)
        have = target
        await asyncio.sleep(WARMUP_S)
        media.proc.cpu_percent(None)
        viewers.cpu_percent()
        on_time = await viewers.measure(WINDOW_S)
        cpu = media.proc.cpu_percent(None)
        client_cpu = viewers.cpu_percent()
        dropped = stage.hub.viewer_packets_dropped
        ratio = sum(on_time) / (target * FPS * WINDOW_S)
        steps.append(
            {
                "viewers": target,
                "on_time": round(ratio, 3),
                "media_cpu_pct": round(cpu),
                "viewer_processes_cpu_pct": round(client_cpu),
            }
        )
        print(
            f"  {mode:11s} {target:4d} viewers: {ratio:6.1%} frames on time,"
            f" media CPU {cpu:4.0f}%, viewer processes CPU {client_cpu:4.0f}%,"
            f" dropped {dropped}",
            flush=True,
        )
        if ratio < GOAL:
            break
        best, best_cpu = target, cpu
    await viewers.reset()
    await media.engines[mode].close_stage("fanout")
    return {"max_viewers": best, "media_cpu_pct_at_max": round(best_cpu), "steps": steps}


def per_viewer_cpu(steps: list[dict[str, Any]]) -> float | None:
    """Media CPU (% of a core) each added viewer costs: the slope over the steps that held."""
    held = [s for s in steps if s["on_time"] >= GOAL]
    if len(held) < 2:
        return None
    first, last = held[0], held[-1]
    return round((last["media_cpu_pct"] - first["media_cpu_pct"])
                 / (last["viewers"] - first["viewers"]), 2)


async def _hls_watch(playlist: Path, stop: asyncio.Event) -> list[tuple[float, float]]:
    """(age of first frame, age of last frame) of each new segment when it is listed."""
    import av

    seen: set[str] = set()
    ages: list[tuple[float, float]] = []
    while not stop.is_set():
        await asyncio.sleep(0.05)
        if not playlist.exists():
            continue
        names = [n for n in playlist.read_text().splitlines() if n.endswith(".ts")]
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            stamps = []
            with av.open(str(playlist.parent / name)) as segment:
                for frame in segment.decode(video=0):
                    stamps.append(read_stamp(frame))
            if stamps:
                ages.append((stamp_age_ms(stamps[0]) / 1000, stamp_age_ms(stamps[-1]) / 1000))
    return ages[1:]  # the first segment may predate the watch


async def _latency(media: Media, viewers: ViewerPool, base: str) -> dict[str, Any]:
    stage = media.engines["encode_once"].stage("latency")
    assert stage.hls_playlist is not None
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(_hls_watch(stage.hls_playlist, stop))
    ms = await viewers.latency(
        (f"{base}/encode_once/latency/publish", f"{base}/encode_once/latency/view", 12.0))
    stop.set()
    hls = await watcher
    segment = media.engines["encode_once"].config.hls_segment_seconds
    listed_first = statistics.median(a for a, _ in hls) if hls else float("nan")
    listed_last = statistics.median(b for _, b in hls) if hls else float("nan")
    return {
        "webrtc_glass_to_glass_ms_p50": statistics.median(ms) if ms else None,
        "webrtc_glass_to_glass_ms_p95": sorted(ms)[int(len(ms) * 0.95)] if ms else None,
        "hls_segment_listed_latency_s": round(listed_first, 2),
        # hls.js/Safari start 3 target durations behind the live edge (end of newest segment).
        "hls_player_latency_s": round(3 * segment + listed_last, 2),
    }


async def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    viewers = ViewerPool(VIEWER_PROCESSES)
    media = Media(root)
    base = await media.start()
    try:
        print(f"media pid {media.proc.pid}, viewer pids {[p.pid for p in viewers.procs]},"
              f" {WIDTH}x{HEIGHT}@{FPS}")
        relay = await _search(media, viewers, base, "relay")
        once = await _search(media, viewers, base, "encode_once")
        latency = await _latency(media, viewers, base)
        await viewers.quit()
    finally:
        await media.stop()
        shutil.rmtree(root, ignore_errors=True)
    ratio = once["max_viewers"] / max(1, relay["max_viewers"])
    cost_once, cost_relay = per_viewer_cpu(once["steps"]), per_viewer_cpu(relay["steps"])
    cost_ratio = round(cost_relay / cost_once, 1) if cost_once and cost_relay else None
    capped = once["max_viewers"] == STEPS["encode_once"][-1]
    print(
        f"encode once: {once['max_viewers']}{'+' if capped else ''} viewers; "
        f"MediaRelay per-viewer encode: {relay['max_viewers']}; ratio {ratio:.1f}x (goal >= 10x)"
    )
    print(f"media CPU per added viewer: encode once {cost_once}%, per-viewer encode"
          f" {cost_relay}% of a core (ratio {cost_ratio}x)")
    print(f"latency: {latency}")
    print(
        json.dumps(
            {
                "resolution": f"{WIDTH}x{HEIGHT}@{FPS}",
                "bitrate": BITRATE,
                "encode_once_max_viewers": once["max_viewers"],
                "encode_once_capped": capped,
                "relay_max_viewers": relay["max_viewers"],
                "ratio": round(ratio, 1),
                "goal_ratio": 10,
                "media_cpu_pct_per_viewer_encode_once": cost_once,
                "media_cpu_pct_per_viewer_relay": cost_relay,
                "per_viewer_cpu_ratio": cost_ratio,
                "viewer_processes": VIEWER_PROCESSES,
                "encode_once_steps": once["steps"],
                "relay_steps": relay["steps"],
                **latency,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
