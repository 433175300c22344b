"""Webcast fan-out: how many WebRTC viewers one media process serves, and latency.

Run with no arguments. The media process (this one) serves one synthetic
1280x720 30 fps stage; viewers are aiortc peers in two other processes that
count complete frames at RTP level instead of decoding them (a browser's
decoding is its own machine's CPU, not ours; see _install_frame_counter).
A stepped search adds viewers until fewer than 95 % of frames arrive whole and
on time (within 200 ms of their best delay), or the stage refuses new viewers
(503: its fan-out is falling behind, issue 21 point 6; the viewer count where
that starts is printed), for the encode-once path and for the aiortc
MediaRelay + per-viewer-encode baseline, in the same run. Then a
WebRTC publisher feeds a stage watched by a decoding WebRTC viewer
(glass-to-glass latency, capture time stamped in the picture) and by an HLS
player that follows the live playlist like hls.js and reads the stamp of each
frame as it presents it (HLS live latency).
Then the same search on a media node of several processes (`--processes`, default
the machine's cores; streaming/workers.py): the origin encodes and forwarding processes
serve viewers too; the figure is how many viewers the node carries against the one process
of the same run (issue 22 point 3: goal >= 1.8x on 2 processes).

Cheap viewers (all modes alike): one viewer in PROBE_EVERY counts frames at its socket (a
probe); the kernel drops the others' RTP on arrival (an nftables rule on their ports) and
counts it per port, so the media processes' work per viewer is unchanged while the viewers'
side costs almost nothing (on this 2-core machine it cost as much as the media side, so two
media processes could not have been measured). Sinks' packets are reported against the
probes'.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import struct
import subprocess
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

from streaming import MediaEngine, StreamingConfig, StreamingError  # noqa: E402
from streaming.config import DEFAULT_LADDER, Rendition  # noqa: E402
from streaming.synthetic import StampedVideoTrack, read_stamp, stamp_age_ms  # noqa: E402

WIDTH, HEIGHT, FPS = 1280, 720, 30
BITRATE = 1_500_000
WARMUP_S, WINDOW_S = 2.0, 5.0
ON_TIME_S = 0.2
GOAL = 0.95
STEPS = {"encode_once": [20, 40, 80, 120, 160, 200, 250, 300, 350, 400, 500, 600],
         "relay": [1, 2, 3, 4, 5, 6, 7, 8, 10],
         "spread": [*range(100, 1001, 50)],
         # without admission control: until frames stop arriving on time (the capacity)
         "one_capacity": [200, 300, 350, 400, 450, 500, 550, 600, 700, 800],
         "node_capacity": [300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]}
NODES = ("spread", "node_capacity")  # the modes served by an origin with forwarding processes
PROBE_EVERY = 5  # one viewer in five counts frames at its socket; the kernel counts the rest
NFT_TABLE = f"traffpunkt_bench_{os.getpid()}"
HLS_JOIN_S, HLS_PLAY_S = 10, 16  # the HLS players join a stream this old, then watch
ROOT = Path(__file__).resolve().parents[1]


def player_sync_count() -> int:
    """How many target durations behind the live edge our viewer page's hls.js starts."""
    source = (ROOT / "static/js/webcast_player.js").read_text()
    found = re.search(r"liveSyncDurationCount:\s*(\d+)", source)
    if found is None:
        raise SystemExit("static/js/webcast_player.js no longer sets liveSyncDurationCount")
    return int(found.group(1))


# The viewer page's setting, and 3: hls.js's default and where Safari's native player starts.
HLS_SYNC_COUNTS = (player_sync_count(), 3)
VIEWER_PROCESSES = 2  # one aiortc process receiving 30 streams saturates its core before we do


# --------------------------------------------------------------------------- viewer process


@dataclass
class _Arrivals:
    """Complete video frames one viewer received: RTP timestamp -> arrival of its last packet."""

    times: dict[int, float] = field(default_factory=dict)
    packets: int = 0  # every RTP and RTCP datagram (what the kernel counts for a sink)
    next_seq: int | None = None
    frame_intact: bool = False  # every packet of the frame in progress arrived, in order

    def add(self, seq: int, timestamp: int, marker: bool, arrived: float) -> None:
        if self.next_seq is not None and seq != self.next_seq:
            self.frame_intact = False  # a gap (loss or reordering): this frame is not delivered
        self.next_seq = (seq + 1) & 0xFFFF
        if marker:  # last packet of the frame (RFC 6184 5.1)
            if self.frame_intact:
                self.times.setdefault(timestamp, arrived)
            self.frame_intact = True


def _count_at_the_socket(peer: Any, registry: list[_Arrivals]) -> None:
    """A connected viewer counts complete video frames from the RTP headers as its datagrams
    arrive, and drops them there (bench only).

    A browser reassembles, estimates bandwidth and decodes in native code on its own machine;
    an aiortc peer doing even the SRTP and RTP parsing in Python costs more than the media
    process spends on it, so on two shared cores the viewers, not the media process, ran out
    first. SRTP leaves the RTP header in the clear: sequence number, timestamp and marker bit
    tell whether each frame arrived whole (no gap from one frame's marker to the next) and
    when. That is stricter than a decoder (no NACK, no retransmission rescues a lost packet);
    the media process's work per viewer, from the header to SRTP to the socket, is unchanged.
    Audio and retransmissions (other payload types) are dropped uncounted; DTLS and RTCP go
    on to aiortc as before.
    """
    answer = peer.pc.remoteDescription.sdp
    video = next((m for m in answer.split("m=")[1:] if m.startswith("video")), "")
    video_types = {int(pt) for pt, codec in re.findall(r"a=rtpmap:(\d+) ([\w-]+)/", video)
                   if codec.lower() not in ("rtx", "red", "ulpfec")}
    arrivals = _Arrivals()
    registry.append(arrivals)
    connections = {t.receiver.transport.transport._connection for t in peer.pc.getTransceivers()}
    for connection in connections:
        queue_put = connection._queue.put_nowait

        def received(data: bytes, component: int, put: Any = queue_put) -> None:
            if data and 128 <= data[0] < 192:
                arrivals.packets += 1
            if len(data) > 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
                if data[1] & 0x7F in video_types:
                    seq, timestamp = struct.unpack_from("!HI", data, 2)
                    arrivals.add(seq, timestamp, bool(data[1] & 0x80), time.monotonic())
                return
            put((data, component))

        connection.data_received = received


def _sink_ports(peer: Any) -> list[int]:
    """The UDP ports of a viewer that is a sink: the kernel drops and counts its RTP there
    (KernelSinks); DTLS and STUN (consent) still reach aiortc. Until its ports are in the
    kernel's set (after the whole step has joined), RTP that reaches it is dropped here:
    aiortc would decode it, and a step of hundreds of viewers then buried the viewer
    processes in decoding for seconds."""
    connections = {t.receiver.transport.transport._connection for t in peer.pc.getTransceivers()}
    for connection in connections:
        queue_put = connection._queue.put_nowait

        def received(data: bytes, component: int, put: Any = queue_put) -> None:
            if not (data and 128 <= data[0] < 192):
                put((data, component))

        connection.data_received = received
    return [protocol.transport.get_extra_info("sockname")[1]
            for connection in connections for protocol in connection._protocols]


class KernelSinks:
    """An nftables table whose rule drops RTP/RTCP (version 2) arriving at the sink viewers'
    ports, before any process sees it, counting packets per port."""

    def __init__(self) -> None:
        self.table = NFT_TABLE
        commands = [
            f"add table inet {self.table}",
            f"add set inet {self.table} sinks {{ type inet_service; counter; }}",
            f"add chain inet {self.table} input {{ type filter hook input priority -300; }}",
            f"add rule inet {self.table} input @th,64,2 2 udp dport @sinks drop",
        ]
        self._nft("\n".join(commands))

    @staticmethod
    def _nft(script: str, *args: str) -> str:
        command = ["nft", *args, *script.split()] if args else ["nft", "-f", "-"]
        done = subprocess.run(command, input=None if args else script, text=True,
                              capture_output=True, check=False)
        if done.returncode:
            raise SystemExit(f"nft failed: {done.stderr.strip()} (the bench needs root)")
        return done.stdout

    def add(self, ports: list[int]) -> None:
        if ports:
            listed = ", ".join(str(p) for p in sorted(set(ports)))
            self._nft(f"add element inet {self.table} sinks {{ {listed} }}")

    def counts(self) -> dict[int, int]:
        listing = json.loads(self._nft(f"list set inet {self.table} sinks", "-j"))  # argv
        found: dict[int, int] = {}
        for item in listing["nftables"]:
            for elem in item.get("set", {}).get("elem", []):
                found[int(elem["elem"]["val"])] = int(elem["elem"]["counter"]["packets"])
        return found

    def clear(self) -> None:
        self._nft(f"flush set inet {self.table} sinks")

    def close(self) -> None:
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True,
                       check=False)


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
    peers: list[ViewerPeer] = []
    sink_ports: list[list[int]] = []  # each sink viewer's ports
    joined = 0
    async with ClientSession() as http:
        while True:
            cmd, arg = await asyncio.to_thread(conn.recv)
            if cmd == "add":
                url, count = arg

                async def one(url: str = url) -> ViewerPeer | None:
                    """A connected viewer, or None when the stage refused it (503: to HLS)."""
                    peer = ViewerPeer()

                    async def exchange(offer: str) -> str:
                        async with http.post(url, data=offer) as resp:
                            if resp.status == 503:
                                raise _Refused
                            resp.raise_for_status()
                            return await resp.text()

                    nonlocal joined
                    try:
                        await peer.connect(exchange)
                    except _Refused:
                        await peer.close()
                        return None
                    if joined % PROBE_EVERY == 0:
                        _count_at_the_socket(peer, registry)
                    else:
                        sink_ports.append(_sink_ports(peer))
                    joined += 1
                    return peer

                refused = 0
                sink_ports.clear()
                for start in range(0, count, 10):
                    batch = min(10, count - start)
                    got = await asyncio.gather(*(one() for _ in range(batch)))
                    peers += [p for p in got if p is not None]
                    refused += sum(p is None for p in got)
                conn.send((refused, list(sink_ports)))
            elif cmd == "measure":
                start = time.monotonic()
                before = [a.packets for a in registry]
                await asyncio.sleep(arg)
                end = time.monotonic()
                conn.send([(_on_time(a, start, end), a.packets - n)
                           for a, n in zip(registry, before, strict=True)])
            elif cmd == "reset":
                await asyncio.gather(*(p.close() for p in peers))
                peers.clear()
                registry.clear()
                joined = 0
                conn.send("ok")
            elif cmd == "latency":
                conn.send(await _latency_client(http, *arg))
            elif cmd == "hls":
                url, join_after, seconds, counts = arg
                conn.send(await asyncio.gather(
                    *(_hls_player(http, url, join_after, seconds, n) for n in counts)))
            elif cmd == "quit":
                conn.send("ok")
                return


class _Refused(Exception):
    """The stage answered 503: its fan-out is full or falling behind."""


async def _latency_client(
    http: ClientSession, publish_url: str, view_url: str, seconds: float
) -> list[int]:
    """A WebRTC publisher and one decoding viewer; returns stamp ages in ms."""
    from streaming.peers import SyntheticPublisher, ViewerPeer


    async def post(url: str, offer: str) -> str:
        # Right after the fan-out search the process's loop-lag window (5 s) still remembers
        # the load: the stage answers 503 (to HLS) until it has settled, as in production.
        for _ in range(30):
            async with http.post(url, data=offer) as resp:
                if resp.status != 503:
                    resp.raise_for_status()
                    return await resp.text()
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{url} still refuses viewers after 15 s")

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


def _parse_playlist(text: str) -> tuple[float, list[tuple[int, float, str]]]:
    """Target duration and ``(media sequence, duration, uri)`` of each segment."""
    target, sequence, pending = 2.0, 0, 0.0
    segments: list[tuple[int, float, str]] = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((sequence, pending, line))
            sequence += 1
    return target, segments


def _join_point(
    target: float, segments: list[tuple[int, float, str]], sync_count: int
) -> tuple[int, float | None]:
    """hls.js's live start: ``liveSyncDurationCount`` target durations before the end of the
    playlist. Returns the segment holding it and the seconds to skip into that segment."""
    start = max(0.0, sum(duration for _, duration, _ in segments) - sync_count * target)
    position = 0.0
    for sequence, duration, _ in segments:
        if position + duration > start:
            return sequence, start - position
        position += duration
    return segments[-1][0], 0.0


async def _hls_player(http: ClientSession, playlist_url: str, join_after: int,
                      seconds: float, sync_count: int) -> dict[str, Any]:
    """Watch the live playlist the way hls.js does, and measure at presentation.

    Joins once ``join_after`` segments are listed, starts ``sync_count`` (hls.js's
    ``liveSyncDurationCount``) target durations behind the live edge, reloads the playlist
    every target duration (half of it when nothing changed), fetches and decodes each new
    segment over HTTP, and presents its frames at 1x on the wall clock, stalling when the
    buffer runs dry (hls.js neither skips ahead nor speeds up by default). Each presented
    frame's age is read from the capture stamp in its picture.
    """
    import av

    frames: list[tuple[float, int]] = []  # (media seconds, capture stamp), in order
    arrived = asyncio.Event()
    base = playlist_url.rsplit("/", 1)[0]

    async def get(url: str) -> bytes:
        async with http.get(url) as resp:
            resp.raise_for_status()
            return await resp.read()

    async def fetch() -> None:
        target, segments = 2.0, list[tuple[int, float, str]]()
        while len(segments) < join_after:
            await asyncio.sleep(0.5)
            try:
                target, segments = _parse_playlist((await get(playlist_url)).decode())
            except Exception:  # not written yet
                continue
        next_sequence, skip = _join_point(target, segments, sync_count)
        while True:
            fresh = [s for s in segments if s[0] >= next_sequence]
            for sequence, _, uri in fresh:
                data = await get(f"{base}/{uri}")
                with av.open(io.BytesIO(data), "r", format="mpegts") as segment:
                    decoded = [(f.time, read_stamp(f))
                               for f in segment.decode(video=0) if f.time is not None]
                if skip is not None and decoded:
                    first = decoded[0][0]
                    decoded = [f for f in decoded if f[0] >= first + skip]
                    skip = None
                frames.extend(decoded)
                next_sequence = sequence + 1
                arrived.set()
            await asyncio.sleep(target if fresh else target / 2)
            _, segments = _parse_playlist((await get(playlist_url)).decode())

    fetcher = asyncio.ensure_future(fetch())
    ages: list[int] = []
    stalls = 0
    try:
        while not frames:
            arrived.clear()
            await arrived.wait()
        clock = time.monotonic() - frames[0][0]  # wall time of media time 0
        index, until = 0, time.monotonic() + seconds
        while time.monotonic() < until:
            while index >= len(frames):  # buffer empty: stall, then continue from here
                arrived.clear()
                await arrived.wait()
                stalls += 1
                clock = max(clock, time.monotonic() - frames[index][0])
            media_time, stamp = frames[index]
            await asyncio.sleep(max(0.0, clock + media_time - time.monotonic()))
            ages.append(stamp_age_ms(stamp))
            index += 1
    finally:
        fetcher.cancel()
    return {"ages_ms": ages, "stalls": stalls}


def _client_main(conn: Connection) -> None:
    asyncio.run(_client(conn))


class ViewerPool:
    """Viewer processes; `add` spreads new viewers over them, `measure` asks them all at once."""

    def __init__(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        self.sinks = KernelSinks()
        self.sink_viewers: list[list[int]] = []
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

    async def add(self, url: str, count: int) -> int:
        """Add `count` viewers; how many the stage refused."""
        shares = [0] * len(self.pipes)
        for _ in range(count):
            shares[self._next] += 1
            self._next = (self._next + 1) % len(self.pipes)
        answers = await asyncio.gather(*(_ask(pipe, "add", (url, n))
                                         for pipe, n in zip(self.pipes, shares, strict=True) if n))
        for _, groups in answers:
            self.sinks.add([port for ports in groups for port in ports])
            self.sink_viewers += groups
        return int(sum(refused for refused, _ in answers))

    async def measure(self, seconds: float) -> tuple[list[int], list[int], list[int]]:
        """Frames on time and packets of each probe, and packets of each sink, in the window."""
        before = self.sinks.counts()
        answers = await asyncio.gather(*(_ask(pipe, "measure", seconds) for pipe in self.pipes))
        after = self.sinks.counts()
        probes = [pair for answer in answers for pair in answer]
        sinks = [sum(after.get(port, 0) - before.get(port, 0) for port in ports)
                 for ports in self.sink_viewers]
        return [f for f, _ in probes], [p for _, p in probes], sinks

    async def reset(self) -> None:
        await asyncio.gather(*(_ask(pipe, "reset") for pipe in self.pipes))
        self.sinks.clear()
        self.sink_viewers.clear()
        self._next = 0

    async def latency(self, arg: Any) -> Any:
        return await _ask(self.pipes[0], "latency", arg)

    async def hls(self, arg: Any) -> Any:
        return await _ask(self.pipes[-1], "hls", arg)

    def cpu_percent(self) -> float:
        return sum(p.cpu_percent(None) for p in self.procs)

    async def quit(self) -> None:
        await asyncio.gather(*(_ask(pipe, "quit") for pipe in self.pipes))
        for worker in self._workers:
            worker.join(timeout=10)


# --------------------------------------------------------------------------- media process


def _config(mode: str, root: Path) -> StreamingConfig:
    from server.platform.settings import Settings

    lag_limit_ms = Settings.model_fields["webrtc_lag_limit_ms"].default
    if mode.endswith("_capacity"):
        lag_limit_ms = 0  # WEBRTC_LAG_LIMIT_MS=0: only the cap (1000 here) refuses viewers
    return StreamingConfig(
        media_root=root / mode,
        fanout="relay" if mode == "relay" else "encode_once",
        viewer_cap=1000,  # type: ignore[arg-type]
        viewer_lag_limit=lag_limit_ms / 1000,  # as the server runs it by default
        renditions=(Rendition(1280, 720, BITRATE), *DEFAULT_LADDER[1:]),
        fps=FPS,
        hls_enabled=mode == "encode_once",
    )


def _forwarder_main(addresses: dict[str, str], root: Path) -> None:
    asyncio.run(_forwarder(addresses, root))


async def _forwarder(addresses: dict[str, str], root: Path) -> None:
    """A forwarding process of each media node (one per mode), as `serve --media-only` runs
    it."""
    lost = asyncio.Event()
    engines = []
    for mode, address in addresses.items():
        engine = MediaEngine(_config(mode, root))
        await engine.start()
        await engine.follow(address, f"forwarder-{os.getpid()}", lost.set)
        engines.append(engine)
    await lost.wait()
    for engine in engines:
        await engine.stop()


class Media:
    """The media process: an engine per fan-out mode behind tiny WHIP/WHEP-like routes; the
    "spread" engine is a node's origin with forwarding processes."""

    def __init__(self, root: Path, processes: int) -> None:
        self.root = root
        self.engines: dict[str, MediaEngine] = {}
        self.proc = psutil.Process()
        self.processes = processes
        self.forwarders: list[psutil.Process] = []
        self._forwarder_jobs: list[Any] = []
        self.lags: list[float] = []  # the media process's event-loop lag (runtime.LoopWatch)
        self.refusals: dict[str, int] = {}  # why the stage answered 503, and how often

    def media_procs(self, mode: str) -> list[psutil.Process]:
        return [self.proc, *self.forwarders] if mode in NODES else [self.proc]

    def lag_ms(self) -> dict[str, float]:
        """p99 and max of the loop's lag since the last call, in ms."""
        ordered, self.lags[:] = sorted(self.lags), []
        if not ordered:
            return {"p99": 0.0, "max": 0.0}
        return {"p99": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
                "max": round(1000 * ordered[-1], 1)}

    async def start(self) -> str:
        from server.platform.runtime import LoopWatch

        self.watch = LoopWatch(self.lags.append)
        await self.watch.start()
        for mode in STEPS:
            self.engines[mode] = MediaEngine(_config(mode, self.root))
            await self.engines[mode].start()
        addresses = {mode: f"@traffpunkt-bench-{os.getpid()}-{mode}" for mode in NODES}
        pools = [await self.engines[mode].serve_workers(addresses[mode]) for mode in NODES]
        ctx = mp.get_context("spawn")
        for _ in range(self.processes - 1):
            job = ctx.Process(target=_forwarder_main, args=(addresses, self.root), daemon=True)
            job.start()
            self._forwarder_jobs.append(job)
            self.forwarders.append(psutil.Process(job.pid))
        while any(len(pool.live()) < self.processes - 1 for pool in pools):
            await asyncio.sleep(0.1)
        app = web.Application()
        app.router.add_post("/{mode}/{stage}/view", self._view)
        app.router.add_post("/{mode}/{stage}/publish", self._publish)
        app.router.add_static("/media/", self.root)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def _view(self, request: web.Request) -> web.Response:
        stage = self.engines[request.match_info["mode"]].stage(request.match_info["stage"])
        try:
            _, answer = await stage.view(await request.text())
        except StreamingError as exc:  # as the server answers WHEP: 503 and HLS instead
            if exc.code != "stage.viewer_cap":
                raise
            self.refusals[str(exc)] = self.refusals.get(str(exc), 0) + 1
            return web.Response(status=503, text=exc.code)
        return web.Response(text=answer)

    async def _publish(self, request: web.Request) -> web.Response:
        stage = self.engines[request.match_info["mode"]].stage(request.match_info["stage"])
        _, answer = await stage.publish(await request.text())
        return web.Response(text=answer)

    async def stop(self) -> None:
        await self.watch.stop()
        await self.runner.cleanup()
        for engine in self.engines.values():
            await engine.stop()  # the origin's link closes: its forwarders end
        for job in self._forwarder_jobs:
            job.join(timeout=10)


async def _ask(conn: Connection, cmd: str, arg: Any = None) -> Any:
    conn.send((cmd, arg))
    return await asyncio.to_thread(conn.recv)


async def _search(media: Media, viewers: ViewerPool, base: str, mode: str) -> dict[str, Any]:
    from aiortc.mediastreams import AudioStreamTrack

    stage = media.engines[mode].stage("fanout")
    stage.attach_source(StampedVideoTrack(WIDTH, HEIGHT, FPS), AudioStreamTrack())
    await asyncio.sleep(1.0)
    procs = media.media_procs(mode)
    best, best_cpu, have, steps = 0, 0.0, 0, []
    refuses_from: int | None = None
    for target in STEPS[mode]:
        refused = await viewers.add(f"{base}/{mode}/fanout/view", target - have)
        have = target = target - refused  # the viewers that are there
        if refused:  # the stage says its fan-out is falling behind: new viewers go to HLS
            refuses_from = refuses_from or have + 1
        await asyncio.sleep(WARMUP_S)
        for proc in procs:
            proc.cpu_percent(None)
        viewers.cpu_percent()
        media.lag_ms()
        on_time, probe_packets, sink_packets = await viewers.measure(WINDOW_S)
        cpu = sum(proc.cpu_percent(None) for proc in procs)
        client_cpu = viewers.cpu_percent()
        lag = media.lag_ms()
        busy = stage.hub.fan_out_busy
        expected = FPS * WINDOW_S  # a window edge can catch a frame more: count at most this
        ratio = sum(min(n, expected) for n in on_time) / (max(1, len(on_time)) * expected)
        reference = statistics.median(probe_packets) if probe_packets else 0
        sinks = (min(sink_packets) / reference if sink_packets and reference else None)
        if sink_packets and reference:
            ordered = sorted(sink_packets)
            print(f"    sinks' packets vs a probe's: min {ordered[0] / reference:.2f},"
                  f" 5th percentile {ordered[len(ordered) // 20] / reference:.2f},"
                  f" median {ordered[len(ordered) // 2] / reference:.2f}", flush=True)
        here = stage.local_viewer_count
        steps.append(
            {
                "viewers": target,
                "probes": len(on_time),
                "on_time": round(ratio, 3),
                "sink_packets_min_vs_probes": None if sinks is None else round(sinks, 3),
                "media_cpu_pct": round(cpu),
                "viewer_processes_cpu_pct": round(client_cpu),
                "media_loop_lag_ms": lag,
                "origin_viewers": here,
            }
        )
        where = f", origin {here} / forwarding {target - here}" if mode in NODES else ""
        print(
            f"  {mode:11s} {target:4d} viewers{where}: {ratio:6.1%} frames on time"
            f" ({len(on_time)} probes; sinks' packets at least"
            f" {'-' if sinks is None else f'{sinks:.0%}'} of a probe's),"
            f" media CPU {cpu:4.0f}%, viewer processes CPU {client_cpu:4.0f}%,"
            f" origin loop lag p99 {lag['p99']} ms, fan-out {busy:.0%} busy",
            flush=True,
        )
        if refused and mode in NODES:
            engine = media.engines[mode]
            assert engine.workers is not None
            others = [(w.name, w.behind, w.busy) for w in engine.workers.live()]
            print(f"    after the refusal: origin loop behind {engine.loop_lag.behind()}, fan-out"
                  f" behind {stage.hub.falling_behind()}; forwarding (behind, busy)"
                  f" {others}", flush=True)
        if ratio < GOAL or refused:
            if ratio >= GOAL:
                best, best_cpu = target, cpu
            break
        best, best_cpu = target, cpu
    await viewers.reset()
    await media.engines[mode].close_stage("fanout")
    if refuses_from:
        print(f"  {mode:11s} the stage refused new viewers from viewer {refuses_from} on:"
              f" {media.refusals}", flush=True)
    media.refusals.clear()
    return {"max_viewers": best, "media_cpu_pct_at_max": round(best_cpu), "steps": steps,
            "refuses_from": refuses_from}


def per_viewer_cpu(steps: list[dict[str, Any]]) -> float | None:
    """Media CPU (% of a core) each added viewer costs: the slope over the steps that held."""
    held = [s for s in steps if s["on_time"] >= GOAL]
    if len(held) < 2:
        return None
    first, last = held[0], held[-1]
    return round((last["media_cpu_pct"] - first["media_cpu_pct"])
                 / (last["viewers"] - first["viewers"]), 2)


def _percentile(values: list[int], share: float) -> int | None:
    return sorted(values)[min(len(values) - 1, int(len(values) * share))] if values else None


async def _latency(media: Media, viewers: ViewerPool, base: str) -> dict[str, Any]:
    """A WebRTC publisher feeds one stage; a decoding WebRTC viewer and an HLS player watch."""
    stage = media.engines["encode_once"].stage("latency")
    assert stage.hls_variants
    # the best rendition's media playlist: the player reads its segments' stamps
    playlist = f"{base}/media/{stage.hls_variants[0].relative_to(media.root).as_posix()}"
    webrtc, players = await asyncio.gather(
        viewers.latency((f"{base}/encode_once/latency/publish",
                         f"{base}/encode_once/latency/view", HLS_JOIN_S + HLS_PLAY_S + 4)),
        viewers.hls((playlist, round(HLS_JOIN_S / 2), HLS_PLAY_S, HLS_SYNC_COUNTS)),
    )
    figures: dict[str, Any] = {
        "webrtc_glass_to_glass_ms_p50": statistics.median(webrtc) if webrtc else None,
        "webrtc_glass_to_glass_ms_p95": _percentile(webrtc, 0.95),
    }
    for count, player in zip(HLS_SYNC_COUNTS, players, strict=True):
        ages = player["ages_ms"]
        name = "hls_player_latency" if count == HLS_SYNC_COUNTS[0] else f"hls_sync{count}_latency"
        figures |= {
            f"{name}_s": round(statistics.median(ages) / 1000, 2) if ages else None,
            f"{name}_s_max": round(max(ages) / 1000, 2) if ages else None,
            f"{name}_frames": len(ages),
            f"{name}_stalls": player["stalls"],
        }
    figures["hls_player_sync_count"] = HLS_SYNC_COUNTS[0]
    figures["goal_hls_latency_s"] = 8
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2,
                        help="processes of the media node in the last search (default: cores)")
    parser.add_argument("--only", choices=list(STEPS), help="only this search (to look closer)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    viewers = ViewerPool(VIEWER_PROCESSES)
    media = Media(root, max(2, args.processes))
    base = await media.start()
    try:
        print(f"media pid {media.proc.pid}, forwarding pids {[p.pid for p in media.forwarders]},"
              f" viewer pids {[p.pid for p in viewers.procs]}, {WIDTH}x{HEIGHT}@{FPS}")
        if args.only:
            await _search(media, viewers, base, args.only)
            await viewers.quit()
            return
        relay = await _search(media, viewers, base, "relay")
        once = await _search(media, viewers, base, "encode_once")
        spread = await _search(media, viewers, base, "spread")
        one = await _search(media, viewers, base, "one_capacity")
        node = await _search(media, viewers, base, "node_capacity")
        latency = await _latency(media, viewers, base)
        await viewers.quit()
    finally:
        await media.stop()
        viewers.sinks.close()
        shutil.rmtree(root, ignore_errors=True)
    ratio = once["max_viewers"] / max(1, relay["max_viewers"])
    scaling = spread["max_viewers"] / max(1, once["max_viewers"])
    capacity_scaling = node["max_viewers"] / max(1, one["max_viewers"])
    cost_once, cost_relay = per_viewer_cpu(once["steps"]), per_viewer_cpu(relay["steps"])
    cost_ratio = round(cost_relay / cost_once, 1) if cost_once and cost_relay else None
    capped = once["max_viewers"] == STEPS["encode_once"][-1]
    print(
        f"encode once: {once['max_viewers']}{'+' if capped else ''} viewers; "
        f"MediaRelay per-viewer encode: {relay['max_viewers']}; ratio {ratio:.1f}x (goal >= 10x)"
    )
    print(f"media CPU per added viewer: encode once {cost_once}%, per-viewer encode"
          f" {cost_relay}% of a core (ratio {cost_ratio}x)")
    print(f"a media node of {media.processes} processes: {spread['max_viewers']}"
          f"{'+' if spread['max_viewers'] == STEPS['spread'][-1] else ''} viewers,"
          f" {scaling:.2f}x one process, both with the server's admission control")
    print(f"capacity (no admission control: until fewer than {GOAL:.0%} of frames are on time):"
          f" one process {one['max_viewers']}, a node of {media.processes}"
          f" {node['max_viewers']}{'+' if node['max_viewers'] == STEPS[NODES[1]][-1] else ''}"
          f" viewers, {capacity_scaling:.2f}x (goal >= 1.8x on 2)")
    print(f"latency: {latency}")
    print(f"the stage started refusing new WebRTC viewers (fan-out falling behind) at: "
          f"{once['refuses_from'] or 'never, up to ' + str(STEPS['encode_once'][-1])}")
    print(
        json.dumps(
            {
                "resolution": f"{WIDTH}x{HEIGHT}@{FPS}",
                "bitrate": BITRATE,
                "encode_once_max_viewers": once["max_viewers"],
                "encode_once_capped": capped,
                "encode_once_refuses_from": once["refuses_from"],
                "relay_max_viewers": relay["max_viewers"],
                "ratio": round(ratio, 1),
                "goal_ratio": 25,
                "media_cpu_pct_per_viewer_encode_once": cost_once,
                "media_cpu_pct_per_viewer_relay": cost_relay,
                "per_viewer_cpu_ratio": cost_ratio,
                "viewer_processes": VIEWER_PROCESSES,
                "probe_every": PROBE_EVERY,
                "media_processes": media.processes,
                "node_max_viewers": spread["max_viewers"],
                "node_capped": spread["max_viewers"] == STEPS["spread"][-1],
                "process_scaling_admitted": round(scaling, 2),
                "one_process_capacity": one["max_viewers"],
                "node_capacity": node["max_viewers"],
                "node_capacity_capped": node["max_viewers"] == STEPS["node_capacity"][-1],
                "process_scaling": round(capacity_scaling, 2),
                "goal_process_scaling": 1.8,
                "one_capacity_steps": one["steps"],
                "node_capacity_steps": node["steps"],
                "node_steps": spread["steps"],
                "encode_once_steps": once["steps"],
                "relay_steps": relay["steps"],
                **latency,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
