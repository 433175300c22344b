"""The notes benchmark through a real `traffpunkt serve` over socket.io (used by bench/notes.py).

One server process on PostgreSQL; editors are real socket.io clients over websockets
(bench/rawsio.py: engine.io v4 / socket.io v5 on aiohttp, each frame handled inline, because
python-socketio's client measured itself rather than the server) in separate worker
processes, whole rooms per worker, so a keystroke's send time and its arrival at the room's other
editors are read on one clock. The server relays the exact message bytes an editor sent, so the
bytes identify the keystroke. Editors apply what they receive only during the handshake (the
420 browsers' work is not the server's).
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import ClientCpu, Server, describe, fresh_database, profiled
from rooms.ysync import parse_message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-not-for-production"
KEYS = "Biblioteksplanen följs upp i Skåne, Örebro och Luleå 🦌 "
THEMES = ["utformning", "anvandning", "uppfoljning", "kris"]


def b64(message: bytes) -> str:
    """y-protocols messages travel as base64 text (server/notes/sockets.py)."""
    return base64.b64encode(message).decode("ascii")


async def prepare(url: str, rooms: int, editors: int) -> tuple[list[int], dict[int, list[str]]]:
    """A fresh schema, the demo event, one open round of rooms and a token per editor."""

    from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound
    from server.platform.auth import Principal, Tokens
    from server.platform.db import Database, upgrade_async
    from server.platform.models import Registration
    from server.programme.importer import import_event, read_event_file

    await fresh_database(url)
    await upgrade_async(url)
    db, tokens = Database(url), Tokens(SECRET)
    plan: dict[int, list[str]] = {}
    async with db.transaction() as s:
        event = await import_event(s, read_event_file(ROOT / "server/data/demo_event.json"))
        round_ = BreakoutRound(event_id=event.id, status="open")
        s.add(round_)
        await s.flush()
        for r in range(rooms):
            room = BreakoutRoom(round_id=round_.id, event_id=event.id, key=f"r{r}",
                                name=f"Rum {r}", regions=[], position=r)
            s.add(room)
            await s.flush()
            plan[room.id] = []
            for e in range(editors):
                reg = Registration(event_id=event.id, name=f"Redaktör {r}-{e}", organisation="KB",
                                   join_key=f"k{r}-{e}-{random.random()}")
                s.add(reg)
                await s.flush()
                s.add(BreakoutAssignment(round_id=round_.id, registration_id=reg.id,
                                         room_id=room.id))
                principal = Principal("participant", reg.id, reg.name, event_id=event.id)
                plan[room.id].append(tokens.socket_token(principal, event.id))
    await db.close()
    return list(plan), plan


class Editor:
    """One browser's worth of socket.io connection (bench/rawsio.py) and pycrdt document."""

    def __init__(
        self, room_id: int, token: str, sent: dict[bytes, float], got: list[float],
        arrived: list[float],
    ) -> None:
        from rooms.notes_client import NotesClient

        self.room_id, self.token = room_id, token
        self.sock: Any = None
        self.notes = NotesClient()
        self.sent, self.got = sent, got
        self.arrived = arrived  # wall-clock time of each delivery in `got`, for the timeline
        self.measuring = False
        self.update_bytes = 0
        self.mine: set[bytes] = set()
        self.synced = asyncio.Event()

    async def on_event(self, name: str, data: dict[str, Any]) -> None:
        if name != "notes.sync":
            return
        wires = data["data"] if isinstance(data["data"], list) else [data["data"]]
        for wire in wires:  # one message, or a room's batch
            await self.on_message(base64.b64decode(wire))

    async def on_message(self, message: bytes) -> None:
        if self.measuring:
            at = self.sent.get(message)
            if at is not None and message not in self.mine:  # a batch may echo our own
                now = time.perf_counter()
                self.got.append((now - at) * 1000)
                self.arrived.append(time.time())
            return
        for reply in self.notes.receive(message):
            await self.sock.emit("notes.sync", {"room_id": self.room_id, "data": b64(reply)})
        if self.notes.texts():
            self.synced.set()

    async def join(self, http: Any, url: str) -> None:
        from bench.rawsio import RawSocket

        self.sock = RawSocket(http, url, self.on_event)
        if not await self.sock.connect({"token": self.token}):
            raise RuntimeError("the server refused an editor's connection")
        ack = await self.sock.call("notes.join", {"room_id": self.room_id}, timeout=60)
        assert ack["ok"], ack
        hello = {"room_id": self.room_id, "data": b64(self.notes.hello())}
        await self.sock.emit("notes.sync", hello)
        await asyncio.wait_for(self.synced.wait(), 60)

    async def type(self, stop: float, seed: int) -> int:
        rng = random.Random(seed)
        section = self.notes.section(rng.choice(THEMES))
        self.measuring = True
        await asyncio.sleep(rng.random() * 0.5)
        tick, n = time.perf_counter(), 0
        while tick < stop:
            section += KEYS[(seed + n) % len(KEYS)]
            for message in self.notes.take_outbox():
                self.sent[message] = time.perf_counter()
                self.mine.add(message)
                self.update_bytes += len(parse_message(message).payload)
                await self.sock.emit("notes.sync", {"room_id": self.room_id, "data": b64(message)})
                n += 1
            tick += 0.5
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        return n


async def worker_main(url: str, rooms: dict[int, list[str]], start_at: float, seconds: float,
                      ready: Any) -> dict[str, Any]:
    import aiohttp

    sent: dict[bytes, float] = {}
    got: list[float] = []
    arrived: list[float] = []
    editors = [Editor(rid, tok, sent, got, arrived)
               for rid, toks in rooms.items() for tok in toks]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for i in range(0, len(editors), 20):  # connect in waves: a crowd arriving, not a stampede
            await asyncio.gather(*(e.join(http, url) for e in editors[i:i + 20]))
        ready.put(len(editors))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop = time.perf_counter() + seconds
        typed = await asyncio.gather(*(e.type(stop, i) for i, e in enumerate(editors)))
        await asyncio.sleep(1.0)  # the last deliveries
        await asyncio.gather(*(e.sock.close() for e in editors), return_exceptions=True)
    return {"keystrokes": sum(typed), "latencies": got,
            "arrived": arrived,
            "update_bytes": sum(e.update_bytes for e in editors)}


def worker(url: str, rooms: dict[int, list[str]], start_at: float, seconds: float,
           ready: Any, results: Any) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    results.put(asyncio.run(worker_main(url, rooms, start_at, seconds, ready)))


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q / 100))] if values else float("nan")


def run_served(url: str, rooms: int, editors: int, seconds: float, workers: int) -> dict[str, Any]:
    """The main figures: `traffpunkt serve` on PostgreSQL, editors in `workers` processes."""
    room_ids, plan = asyncio.run(prepare(url, rooms, editors))
    with Server(url, SECRET) as server:
        return _measure(server, room_ids, plan, seconds, workers, url)


def _measure(server: Server, room_ids: list[int],
             plan: dict[int, list[str]], seconds: float, workers: int, url: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    shares = [{rid: plan[rid] for rid in room_ids[w::workers]} for w in range(workers)]
    # Start after every editor is in: the workers wait for this wall-clock moment.
    start_at = time.time() + 10 + 0.02 * sum(map(len, plan.values()))
    procs = [ctx.Process(target=worker, args=(server.url, s, start_at, seconds, ready, results))
             for s in shares]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    time.sleep(max(0.0, start_at - time.time()))
    probe, clients = server.probe(), ClientCpu(p.pid for p in procs if p.pid is not None)
    with profiled(server.pid, "notes-served"):
        time.sleep(seconds)
    during, used = probe.figures(), clients.figures()
    print(f"served: {describe(during, used)}", file=sys.stderr, flush=True)
    out = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(30)
    latencies = [x for o in out for x in o["latencies"]]
    print_timeline(start_at, [(t, x) for o in out for t, x in zip(o["arrived"], o["latencies"],
                                                                  strict=True)])
    figures = {
        "keystrokes": sum(o["keystrokes"] for o in out), "deliveries": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
        "server_cpu_percent_of_core": round(100 * during["server_cpu_share_of_core"], 1),
        "server_rss_mb": during["server_rss_mb"], "client_processes": len(procs),
        "loop_lag_ms": during["loop_lag_ms"], "gc_pauses": during["gc_pauses"], **used,
        "history_bytes": sum(o["update_bytes"] for o in out),
    }
    figures.update(asyncio.run(stored_figures(url, room_ids)))
    return figures


def print_timeline(start_at: float, deliveries: list[tuple[float, float]]) -> None:
    """p50 and p99 of each 2-second slice on stderr: a queue that grows shows as a rising line."""
    slices: dict[int, list[float]] = {}
    for at, ms in deliveries:
        slices.setdefault(int((at - start_at) // 2), []).append(ms)
    line = "  ".join(f"{2 * k}s:{percentile(v, 50):.0f}/{percentile(v, 99):.0f}"
                     for k, v in sorted(slices.items()))
    print(f"served latency p50/p99 ms by time: {line}", file=sys.stderr, flush=True)


async def stored_figures(url: str, room_ids: list[int]) -> dict[str, int]:
    """Bytes in PostgreSQL after the run (log + snapshots; the server compacted rooms as their
    editors left), against every update ever appended (the full history)."""
    from sqlalchemy import func, select

    from rooms.notes import compact_updates
    from server.notes.models import NoteSnapshot, NoteUpdate
    from server.notes.service import SqlNotesStorage
    from server.platform.db import Database

    db = Database(url)
    storage = SqlNotesStorage(db)
    async with db.session() as s:
        log = await s.scalar(select(func.coalesce(func.sum(func.length(NoteUpdate.data)), 0)))
        snaps = await s.scalar(select(func.coalesce(func.sum(func.length(NoteSnapshot.data)), 0)))
    compacted = 0
    for rid in room_ids:
        stored = await storage.load(str(rid))
        history = ([stored.snapshot] if stored.snapshot else []) + stored.updates
        compacted += len(compact_updates(history)) if history else 0
    await db.close()
    return {"stored_bytes_at_end": int(log or 0) + int(snaps or 0), "compacted_bytes": compacted}
