"""room_media: how many publishers and subscribers one media process carries in breakout rooms.

Run with no arguments (optional: --publishers N --subscribers 2,10 --window 6; --event runs
bench/room_event.py: 21 rooms of 10 with last-N 4, scaled from the rooms this machine drives).
The media process (a child process, measured with psutil) serves one room. Publishers are
aiortc peers sending a 640x480 VP8 camera and a tone (they speak, so their audio is forwarded);
subscribers receive every publisher and count encoded frames without decoding them (decoding is
the participant's CPU, not the server's). Both run in this process. Three server modes, same
load:

- forward: streaming/room.py as it is: each publisher's frame cut into RTP payloads once,
  each subscriber's stream writing only its header and SRTP (streaming/rtp_stream.py);
- queued (baseline 1, the forwarding path before issue 22): the same room, but each slot
  queues the frame and aiortc's sender loop packetizes, serializes, encrypts and sends it
  per subscriber (QueuedSlotTrack below keeps that path);
- relay (baseline 2): aiortc's receiver decodes, MediaRelay fans the frames out, and every
  subscriber's sender encodes its own VP8/Opus copy (aiortc's per-viewer encode).

Figures: server CPU (% of one core) per configuration, the cost per forwarded stream
(publisher x subscriber), the estimated streams and room size one core carries, the ratios
(goals of issue 22: forward <= 0.3x queued, relay >= 30x forward). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRelay  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

from bench._common import ClientCpu  # noqa: E402
from streaming.aiortc_compat import rtc_configuration  # noqa: E402
from streaming.forward import ForwardSource, SlotTrack  # noqa: E402
from streaming.room import MediaRoom, Slot  # noqa: E402
from streaming.room_peer import RoomPeer  # noqa: E402
from streaming.rtp_stream import STEP, PreparedFrame  # noqa: E402

WIDTH, HEIGHT = 640, 480
WARMUP_S = 4.0
CORE_BUDGET = 80.0  # % of one core we would plan to use


# -- the media process --------------------------------------------------------------------

MODES = ("forward", "queued", "relay")


class QueuedSlotTrack(SlotTrack):
    """Baseline 1: the slot as it was before forwarding once. Each frame goes on the slot's
    queue as an ``av.Packet``; aiortc's sender loop takes it from ``recv()``, packetizes it
    (its own VP8 picture ids) and builds, serializes, encrypts and sends every packet."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._queue: deque[av.Packet] = deque()
        self._ready = asyncio.Event()
        self._need_key = kind == "video"
        self._offset: int | None = None
        self._last_out = -STEP[kind]
        self._time_base = fractions.Fraction(1, 90000 if kind == "video" else 48000)

    def bind(self, sender: Any) -> None:
        """No stream of our own: aiortc's sender loop sends what recv() returns."""

    def switch(self, source: ForwardSource | None) -> None:
        self._queue.clear()
        self._offset = None
        self._need_key = self.kind == "video"
        super().switch(source)

    def push(self, source: ForwardSource, frame: PreparedFrame) -> None:
        if source is not self.source or self.readyState != "live":
            return
        if self._need_key and not frame.keyframe:
            return
        self._need_key = False
        if len(self._queue) >= 64:
            self._queue.clear()
            self._need_key = self.kind == "video"
            return
        if self._offset is None:
            self._offset = self._last_out + STEP[self.kind] - frame.timestamp
        packet = av.Packet(frame.data)
        packet.pts = self._last_out = frame.timestamp + self._offset
        packet.time_base = self._time_base
        self._queue.append(packet)
        self._ready.set()

    async def recv(self) -> Any:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._ready.set()



class RelayRoom:
    """The baseline: decode each publisher once, encode once per subscriber (MediaRelay)."""

    def __init__(self) -> None:
        self._relay = MediaRelay()
        self._tracks: dict[str, dict[str, Any]] = {}
        self._pcs: list[RTCPeerConnection] = []

    async def offer(self, who: str, sdp: str) -> tuple[str, list[dict[str, Any]]]:
        pc = RTCPeerConnection(rtc_configuration((), max_bundle=True))
        self._pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        slots: list[dict[str, Any]] = []
        publishers = list(self._tracks)
        used: dict[str, int] = {"video": 0, "audio": 0}
        for t in pc.getTransceivers():
            if t.receiver.track is not None and "a=sendonly" in _mline(sdp, t.mid):
                self._tracks.setdefault(who, {})[t.kind] = t.receiver.track
                continue
            index = used[t.kind]
            used[t.kind] += 1
            publisher = publishers[index] if index < len(publishers) else None
            if publisher is not None and t.kind in self._tracks[publisher]:
                t.sender.replaceTrack(self._relay.subscribe(self._tracks[publisher][t.kind]))
                t.direction = "sendonly"
            slots.append({"mid": t.mid, "kind": t.kind, "publisher": publisher})
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp, slots

    async def close(self) -> None:
        for pc in self._pcs:
            await pc.close()


def _mline(sdp: str, mid: str | None) -> str:
    for section in sdp.split("m=")[1:]:
        if f"a=mid:{mid}\r" in section:
            return section
    return ""


async def _serve(mode: str, conn: Connection) -> None:
    from server.platform.runtime import LoopWatch

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    watch = LoopWatch(lags.append)
    await watch.start()
    room: Any = (MediaRoom("bench", lambda: ()) if mode == "forward"
                 else MediaRoom("bench", lambda: (), slot_track=QueuedSlotTrack) if mode == "queued"
                 else RelayRoom())
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "stop":
            break
        if message[0] == "lag":  # the loop's lag since the last ask: p99 and max, in ms
            ordered, lags[:] = sorted(lags), []
            conn.send((round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
                       round(1000 * ordered[-1], 1)) if ordered else (0.0, 0.0))
            continue
        _, who, sdp = message
        if mode != "relay":
            answer = await room.offer(who, sdp)
            conn.send((answer.sdp, [vars(s) for s in answer.slots]))
        else:
            conn.send(await room.offer(who, sdp))
    await room.close()
    await watch.stop()
    conn.send("stopped")


def _media_process(mode: str, conn: Connection) -> None:
    asyncio.run(_serve(mode, conn))


# -- the participants ----------------------------------------------------------------------------


async def _exchange(conn: Connection, who: str, offer: str) -> tuple[str, tuple[Slot, ...]]:
    loop = asyncio.get_running_loop()
    conn.send(("offer", who, offer))
    sdp, slots = await loop.run_in_executor(None, conn.recv)
    return sdp, tuple(Slot(**s) for s in slots)


async def _measure(mode: str, publishers: int, subscribers: int, window: float) -> dict[str, Any]:
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_media_process, args=(mode, child))
    process.start()
    peers: list[RoomPeer] = []
    try:
        for i in range(publishers):
            peer = RoomPeer(width=WIDTH, height=HEIGHT, decode=False, tone=True)  # speaking
            await peer.negotiate(lambda o, w=f"pub{i}": _exchange(parent, w, o))
            peers.append(peer)
        for i in range(subscribers):
            peer = RoomPeer(video=False, audio=False, decode=False)
            peer.add_slots(publishers)
            await peer.negotiate(lambda o, w=f"sub{i}": _exchange(parent, w, o))
            peers.append(peer)
        await asyncio.sleep(WARMUP_S)
        return await _window(process.pid, parent, peers[publishers:], publishers, window, mode,
                             subscribers)
    finally:
        for peer in peers:
            await peer.close()
        parent.send(("stop",))
        await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        process.join(10)


async def _window(
    pid: int | None, conn: Connection, subs: list[RoomPeer], publishers: int, window: float,
    mode: str, count: int,
) -> dict[str, Any]:
    server = psutil.Process(pid)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _lag, conn)  # from now on
    clients = ClientCpu([os.getpid()])  # the publishers and subscribers live in this process
    frames_before = sum(p.video_from(f"pub{i}") for p in subs for i in range(publishers))
    cpu_before, start = server.cpu_times(), time.monotonic()
    await asyncio.sleep(window)
    cpu_after, elapsed = server.cpu_times(), time.monotonic() - start
    lag_p99, lag_max = await loop.run_in_executor(None, _lag, conn)
    used_by_clients = clients.figures()["clients_cores_used"]
    frames = sum(p.video_from(f"pub{i}") for p in subs for i in range(publishers)) - frames_before
    used = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    kernel = (cpu_after.system - cpu_before.system) / elapsed
    streams = publishers * count
    fps = frames / elapsed / max(1, streams)
    # Normalised to 30 fps: a saturated (or starved) run delivers fewer frames per stream.
    per_stream = 100 * used / max(1e-9, streams * fps / 30)
    return {"mode": mode, "publishers": publishers, "subscribers": count,
            "streams": streams, "server_cpu_pct": round(100 * used, 1),
            "server_kernel_cpu_pct": round(100 * kernel, 1),
            "video_fps_per_stream": round(fps, 1),
            "cpu_pct_per_stream_at_30fps": round(per_stream, 2),
            "media_loop_lag_ms_p99": lag_p99, "media_loop_lag_ms_max": lag_max,
            "clients_cores_used": used_by_clients}


def _lag(conn: Connection) -> tuple[float, float]:
    conn.send(("lag",))
    return conn.recv()  # type: ignore[no-any-return]


def _per_stream(rows: list[dict[str, Any]]) -> float:
    """CPU % of one core per added publisher->subscriber stream at 30 fps: the slope between
    the fewest and the most subscribers, so the publishers' own cost (receiving, which no
    subscriber changes) is not spread over the streams. Each added subscriber brings its whole
    connection (ICE, DTLS, RTCP) into the figure."""
    first, last = rows[0], rows[-1]

    def at_30fps(row: dict[str, Any]) -> float:
        fps = max(1e-9, row["video_fps_per_stream"])
        return float(row["server_cpu_pct"]) * 30 / fps

    added = last["streams"] - first["streams"]
    if added <= 0:
        return float(first["cpu_pct_per_stream_at_30fps"])
    return max(0.01, (at_30fps(last) - at_30fps(first)) / added)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(c) for c in args.subscribers.split(",")]
    return await measure(args.publishers, counts, args.window)


async def measure(
    publishers: int = 2, counts: list[int] | None = None, window: float = 6.0
) -> dict[str, Any]:
    """The capacity figures (``{"room_media": {...}}``): forward vs the relay baseline, each
    with ``publishers`` publishers and every subscriber count in ``counts``. bench/breakout.py
    calls it with a short form."""
    counts = sorted(counts or [2, 10])
    results: dict[str, list[dict[str, Any]]] = {}
    for mode in MODES:
        results[mode] = []
        for count in counts:
            row = await _measure(mode, publishers, count, window)
            results[mode].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    forward, relay = _per_stream(results["forward"]), _per_stream(results["relay"])
    queued = _per_stream(results["queued"])
    summary = {
        "room_media": {
            "resolution": f"{WIDTH}x{HEIGHT}", "publishers": publishers,
            "forward_cpu_pct_per_stream": round(forward, 2),
            "queued_cpu_pct_per_stream": round(queued, 2),
            "relay_cpu_pct_per_stream": round(relay, 2),
            "forward_to_queued": round(forward / queued, 3),
            "forward_streams_per_core": int(CORE_BUDGET / forward),
            "relay_streams_per_core": int(CORE_BUDGET / relay),
            # In a room of n people everyone publishes and receives n-1 streams: n*(n-1) streams.
            "forward_room_size_per_core": _room_size(CORE_BUDGET / forward),
            "relay_room_size_per_core": _room_size(CORE_BUDGET / relay),
            "ratio": round(relay / forward, 1),
            "load_average_1m": round(psutil.getloadavg()[0], 1),
            "runs": results,
        }
    }
    return summary


def _room_size(streams: float) -> int:
    n = 1
    while (n + 1) * n <= streams:
        n += 1
    return n


def main() -> None:
    if "--event" in sys.argv[1:]:  # 21 rooms of 10 with last-N: bench/room_event.py
        from bench.room_event import main as event

        event([a for a in sys.argv[1:] if a != "--event"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--subscribers", default="2,10")
    parser.add_argument("--window", type=float, default=6.0)
    summary = asyncio.run(_run(parser.parse_args()))
    room = summary["room_media"]
    print(f"forward: {room['forward_cpu_pct_per_stream']} % of a core per stream, "
          f"about {room['forward_streams_per_core']} streams per core "
          f"(a room of {room['forward_room_size_per_core']} people)")
    print(f"queued baseline (the path before forwarding once): "
          f"{room['queued_cpu_pct_per_stream']} % per stream; forward/queued "
          f"{room['forward_to_queued']} (goal <= 0.3)")
    print(f"relay baseline: {room['relay_cpu_pct_per_stream']} % per stream, "
          f"about {room['relay_streams_per_core']} streams per core "
          f"(a room of {room['relay_room_size_per_core']} people); "
          f"ratio {room['ratio']}x (goal >= 30)")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
