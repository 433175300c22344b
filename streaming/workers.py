"""Every core of a media node: one origin process, any number of forwarding processes.

One Python process sends from one core. A media node therefore runs several processes
(issue 22 point 3): the *origin* takes the publisher (WHIP), encodes the stage once per
rendition, packages HLS and records, exactly as a single process does; each *forwarding
process* connects to it over a local Unix socket (:class:`WorkerLink`) and serves WebRTC
viewers (and breakout rooms, which the server spreads over processes as over nodes).

The origin's :class:`WorkerPool` places each new WHEP viewer on the process whose fan-out is
least busy and that is not falling behind, itself included (:meth:`WorkerPool.placements`);
the answer and the session come back over the link,
and the viewer's media then flows from that process. The stage's encoded packets (every
rendition of a frame in one message, and the Opus packets) go once to each forwarding process
that has a viewer of the stage; there they are cut into RTP payloads once and written to each
viewer, as in the origin. A viewer's key-frame need (join, PLI, rendition switch) comes back
as one small message and meets the origin's key-frame gate like a local one.

The link is framed as ``>I`` length, one type byte, then either JSON (control) or a packed
frame. A forwarding process that cannot keep up is not allowed to grow the origin's memory:
past :data:`SEND_BUFFER_LIMIT` bytes waiting, its frames are skipped until the buffer drains
and the next key frame (asked for at once) restarts its viewers' pictures. A forwarding process
whose link closes ends itself (``on_lost``): its viewers reconnect and are placed again.

Why not a library: the payload is our own (encoded packets and a handful of requests between
processes we start ourselves); ZeroMQ or a multiprocessing manager would add a dependency and
a second framing layer for what is ~200 lines over asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import StreamingError

if TYPE_CHECKING:
    from .engine import MediaEngine

__all__ = ["RelayedPacket", "StageRelay", "Worker", "WorkerLink", "WorkerPool"]

logger = logging.getLogger(__name__)

SEND_BUFFER_LIMIT = 4 * 1024 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
REPORT_INTERVAL = 0.5
# What one more WebRTC viewer is taken to add to a process's fan-out busy share between two
# load reports, so that a burst of offers is spread instead of all going to the process that
# was idlest half a second ago (bench/webcast_fanout.py: about 0.002 per viewer).
VIEWER_COST = 0.003
REQUEST_TIMEOUT = 20.0
CONNECT_ATTEMPTS_S = 10.0

_HEAD = struct.Struct(">IB")
_PACKET = struct.Struct(">qBI")
_CONTROL, _VIDEO, _AUDIO = b"C"[0], b"V"[0], b"A"[0]


class RelayedPacket(bytes):
    """An encoded packet as a forwarding process receives it: the bytes, their pts on the RTP
    clock and whether it is a key frame (what the hub reads of PyAV's packets)."""

    pts: int
    is_keyframe: bool

    @classmethod
    def of(cls, data: bytes, pts: int, key: bool) -> RelayedPacket:
        packet = cls(data)
        packet.pts, packet.is_keyframe = pts, key
        return packet

    @property
    def size(self) -> int:
        return len(self)


def _pack(kind: int, stage_id: str, groups: Sequence[Sequence[Any]]) -> bytes:
    name = stage_id.encode()
    parts = [bytes((len(name),)), name, bytes((len(groups),))]
    for packets in groups:
        parts.append(struct.pack(">H", len(packets)))
        for packet in packets:
            data = bytes(packet)
            parts.append(_PACKET.pack(int(packet.pts or 0), bool(packet.is_keyframe), len(data)))
            parts.append(data)
    body = b"".join(parts)
    return _HEAD.pack(len(body) + 1, kind) + body


def _unpack(body: memoryview) -> tuple[str, list[list[RelayedPacket]]]:
    at = 1 + body[0]
    stage_id = bytes(body[1:at]).decode()
    count = body[at]
    at += 1
    groups: list[list[RelayedPacket]] = []
    for _ in range(count):
        (n,) = struct.unpack_from(">H", body, at)
        at += 2
        packets = []
        for _ in range(n):
            pts, key, size = _PACKET.unpack_from(body, at)
            at += _PACKET.size
            packets.append(RelayedPacket.of(bytes(body[at:at + size]), pts, bool(key)))
            at += size
        groups.append(packets)
    return stage_id, groups


def _control(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEAD.pack(len(body) + 1, _CONTROL) + body


def socket_path(address: str) -> str:
    """``@name`` is ``name`` in Linux's abstract socket namespace (no file to clean up, and
    writable in an environment variable, which a NUL byte is not); anything else a path."""
    return "\0" + address[1:] if address.startswith("@") else address


async def _read(reader: asyncio.StreamReader) -> tuple[int, memoryview]:
    size, kind = _HEAD.unpack(await reader.readexactly(_HEAD.size))
    if not 1 <= size <= MAX_MESSAGE:
        raise ConnectionError(f"media link message of {size} bytes")
    return kind, memoryview(await reader.readexactly(size - 1))


class _Recent:
    """Viewers placed on a process within the last REPORT_INTERVAL: not in its load yet."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def add(self) -> None:
        self._times.append(time.monotonic())

    def count(self) -> int:
        cutoff = time.monotonic() - REPORT_INTERVAL
        self._times = [t for t in self._times if t > cutoff]
        return len(self._times)


class _Requests:
    """Numbered requests over a link and the futures that wait for their replies."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def new(self) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        number = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        return number, future

    def answer(self, reply: dict[str, Any]) -> None:
        future = self._waiting.pop(int(reply.get("id", 0)), None)
        if future is not None and not future.done():
            future.set_result(reply)

    def forget(self, number: int) -> None:
        self._waiting.pop(number, None)

    def fail_all(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(StreamingError("stage.viewer_cap", "media process gone"))
        self._waiting.clear()


# --------------------------------------------------------------------------- origin side


class Worker:
    """The origin's handle on one connected forwarding process."""

    def __init__(self, pool: WorkerPool, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self._pool = pool
        self._reader = reader
        self._writer = writer
        self._requests = _Requests()
        self.name = "?"
        self.pending = 0  # offers sent to it and not answered yet
        self.busy = 0.0  # the share of its time its fan-out takes (its reports)
        self.recent = _Recent()
        self.behind = False  # it says new viewers would make it worse
        self.connected = True
        self._skipping: set[str] = set()  # stages whose frames wait for the buffer to drain
        self.frames_skipped = 0

    # -- requests ---------------------------------------------------------------------

    async def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        if not self.connected:
            raise StreamingError("stage.viewer_cap", "media process gone")
        number, future = self._requests.new()
        self._writer.write(_control({**message, "id": number}))
        try:
            reply = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError as exc:
            raise StreamingError("stage.viewer_cap", "media process did not answer") from exc
        finally:
            self._requests.forget(number)
        if "error" in reply:
            raise StreamingError(str(reply["error"]),
                                 f"{self.name}: {reply.get('message', '')}")
        return reply

    async def view(self, stage_id: str, offer: str, owner: str) -> tuple[str, str]:
        """A WHEP offer answered by this process; ``(session_id, answer)``."""
        self.pending += 1
        try:
            reply = await self._ask({"t": "view", "stage": stage_id, "offer": offer,
                                     "owner": owner})
        finally:
            self.pending -= 1
        self.recent.add()
        return str(reply["session"]), str(reply["answer"])

    async def stop_view(self, stage_id: str, session_id: str) -> None:
        await self._ask({"t": "stop", "stage": stage_id, "session": session_id})

    # -- media ------------------------------------------------------------------------

    def send(self, kind: int, stage_id: str, groups: Sequence[Sequence[Any]],
             key: bool) -> None:
        """One frame's packets (every rendition's, or the audio's) to this process."""
        if not self.connected:
            return
        if self._writer.transport.get_write_buffer_size() > SEND_BUFFER_LIMIT:
            if stage_id not in self._skipping:
                logger.warning("media process %s falls behind on stage %s: frames skipped",
                               self.name, stage_id)
            self._skipping.add(stage_id)
            self.frames_skipped += 1
            return
        if stage_id in self._skipping:
            if kind == _VIDEO and not key:  # resume with a picture that decodes on its own
                self.frames_skipped += 1
                self._pool.keyframe_needed(stage_id)
                return
            if kind == _VIDEO:
                self._skipping.discard(stage_id)
            else:
                return
        self._writer.write(_pack(kind, stage_id, groups))

    # -- the link ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                kind, body = await _read(self._reader)
                if kind == _CONTROL:
                    self._handle(json.loads(bytes(body)))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError) as exc:
            logger.info("media process %s left: %s", self.name, exc or type(exc).__name__)
        finally:
            self.connected = False
            self._requests.fail_all()
            self._writer.close()
            self._pool.lost(self)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "re":
            self._requests.answer(message)
        elif kind == "load":
            self.name = str(message.get("name", self.name))
            self.behind = bool(message.get("behind", False))
            self.busy = float(message.get("busy", 0.0))
        elif kind == "key":
            self._pool.keyframe_needed(str(message.get("stage", "")))
        elif kind == "gone":  # (also the answer to our own stop, sent before its reply)
            self._pool.session_gone(str(message.get("stage", "")), str(message.get("session", "")))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class WorkerPool:
    """The origin's listening socket and its connected forwarding processes."""

    def __init__(self, engine: MediaEngine) -> None:
        self._engine = engine
        self.workers: list[Worker] = []
        self.here = _Recent()  # viewers the origin placed on itself lately
        self._server: asyncio.base_events.Server | None = None

    async def start(self, address: str) -> None:
        """Listen on ``address`` (a path, or ``@name`` in Linux's abstract namespace)."""
        self._server = await asyncio.start_unix_server(self._accept, path=socket_path(address))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # An abstract socket has no file permissions: anyone on the host could connect and be
        # sent the stage. Only a process of our own user may be a forwarding process.
        sock = writer.get_extra_info("socket")
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            logger.warning("media link: refused a process of user %d", uid)
            writer.close()
            return
        worker = Worker(self, reader, writer)
        self.workers.append(worker)
        await worker.run()

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.connected]

    def placements(self, busy_here: float, pending_here: int) -> list[Worker | None]:
        """Where a new viewer may go, best first (``None`` is this process): the least loaded
        by the measure admission uses (the share of its time a process's fan-out takes, which
        the origin's encoder thread does not count in), plus what was placed on it since its
        last report; forwarding processes that say they are behind are left out. On a tie a
        forwarding process goes first (the origin also encodes and answers every offer)."""
        here = busy_here + (pending_here + self.here.count()) * VIEWER_COST
        ranked: list[tuple[float, int, Worker | None]] = [(here, 1, None)]
        ranked += [(w.busy + (w.pending + w.recent.count()) * VIEWER_COST, 0, w)
                   for w in self.live() if not w.behind]
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [where for _, _, where in ranked]

    def keyframe_needed(self, stage_id: str) -> None:
        stage = self._engine.existing_stage(stage_id)
        if stage is not None:
            stage.hub.request_keyframe()

    def session_gone(self, stage_id: str, session_id: str) -> None:
        stage = self._engine.existing_stage(stage_id)
        if stage is not None:
            stage.remote_session_gone(session_id)

    def lost(self, worker: Worker) -> None:
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        for stage in self._engine.stages:
            stage.worker_lost(worker)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for worker in list(self.workers):
            await worker.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


# --------------------------------------------------------------------------- forwarding side


class WorkerLink:
    """A forwarding process's connection to its origin: frames in, viewers placed here."""

    def __init__(self, engine: MediaEngine, address: str, name: str,
                 on_lost: Callable[[], Awaitable[None] | None] | None = None) -> None:
        self._engine = engine
        self._address = address
        self.name = name
        self._on_lost = on_lost
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    async def start(self) -> None:
        """Connect (the origin may still be starting: retried for a few seconds)."""
        deadline = time.monotonic() + CONNECT_ATTEMPTS_S
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(socket_path(self._address))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        self._writer = writer
        self._report()
        self._spawn(self._read(reader))
        self._spawn(self._reports())

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, message: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(_control(message))

    def keyframe(self, stage_id: str) -> None:
        self.send({"t": "key", "stage": stage_id})

    def session_gone(self, stage_id: str, session_id: str) -> None:
        self.send({"t": "gone", "stage": stage_id, "session": session_id})

    def _report(self) -> None:
        self.send({"t": "load", "name": self.name,
                   "busy": round(max((s.hub.fan_out_busy for s in self._engine.stages),
                                     default=0.0), 3),
                   "behind": any(s.refuses_viewers() for s in self._engine.stages)
                   or self._engine.loop_lag.behind()})

    async def _reports(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            self._report()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, body = await _read(reader)
                if kind == _CONTROL:
                    self._handle(json.loads(bytes(body)))
                    continue
                stage_id, groups = _unpack(body)
                stage = self._engine.existing_stage(stage_id)
                if stage is None:
                    continue
                if kind == _VIDEO:
                    stage.hub.relay_video(groups)
                elif groups:
                    stage.hub.relay_audio(groups[0])
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError) as exc:
            if not self._closing:
                logger.warning("media link to the origin closed: %s", exc or type(exc).__name__)
        finally:
            if not self._closing and self._on_lost is not None:
                result = self._on_lost()
                if result is not None:
                    await result

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("t") == "view":
            self._spawn(self._view(message))
        elif message.get("t") == "stop":
            self._spawn(self._stop(message))

    async def _view(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"t": "re", "id": message.get("id")}
        try:
            stage = self._engine.mirror_stage(str(message["stage"]), self)
            session, answer = await stage.view(str(message["offer"]), str(message.get("owner", "")))
            reply |= {"session": session, "answer": answer}
        except StreamingError as exc:
            reply |= {"error": exc.code, "message": str(exc)}
        except Exception as exc:  # the origin must get an answer, whatever went wrong here
            logger.exception("media process %s: a viewer could not be placed", self.name)
            reply |= {"error": "stage.viewer_cap", "message": type(exc).__name__}
        self.send(reply)

    async def _stop(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"t": "re", "id": message.get("id")}
        stage = self._engine.existing_stage(str(message.get("stage", "")))
        try:
            if stage is None:
                raise StreamingError("session.not_found", "no such viewer session")
            await stage.stop_view(str(message.get("session", "")))
        except StreamingError as exc:
            reply |= {"error": exc.code, "message": str(exc)}
        self.send(reply)

    async def stop(self) -> None:
        self._closing = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if current is not None:
            self._tasks.discard(current)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()


class StageRelay:
    """One stage's frames to one forwarding process (the hub holds one per process that has a
    viewer of the stage)."""

    def __init__(self, worker: Worker, stage_id: str) -> None:
        self.worker = worker
        self.stage_id = stage_id

    def video(self, encoded: Sequence[Sequence[Any]]) -> None:
        if encoded and any(encoded):
            key = any(p.is_keyframe for p in encoded[0])
            self.worker.send(_VIDEO, self.stage_id, encoded, key)

    def audio(self, packets: Sequence[Any]) -> None:
        if packets:
            self.worker.send(_AUDIO, self.stage_id, [packets], True)
