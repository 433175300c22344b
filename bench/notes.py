"""Shared notes under a full event: 21 rooms x 20 editors typing 2 characters a second.

Every keystroke is a real pycrdt update sent through ``NotesRoom.handle`` (validate on the
shadow, store, apply, relay); the room's outbound messages go through a ``Transport`` to the
other 19 editors of the room. Reported: delivery latency from keystroke to each other editor's
inbox (p50, p99), CPU and RSS, the stored history against the compacted snapshot, and the same
run through a plain relay that forwards bytes without parsing, applying or storing them.

Editors do not apply what they receive: that work happens in 420 browsers, not on the server,
and would only make this one process measure itself. The transport is in-process queues; swap
``QueueTransport`` for a socket.io one to measure the full path.

    .venv/bin/python bench/notes.py [--seconds 10] [--rooms 21] [--editors 20]
        [--database-url postgresql+asyncpg://...] [--workers 3] [--in-process-only]

The main figures go through a real ``traffpunkt serve`` over socket.io (bench/notes_served.py:
PostgreSQL, editors as raw socket.io clients, bench/rawsio.py, in separate processes); the
in-process runs above stay as the baseline, and the summary gives the ratios.

Goal: p99 < 150 ms. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rooms.notes import NotesRoom, Outbound  # noqa: E402
from rooms.notes_client import NotesClient  # noqa: E402
from rooms.notes_storage import MemoryNotesStorage  # noqa: E402
from rooms.ysync import sync_step2  # noqa: E402

THEMES = ["planer", "uppfoljning", "samverkan", "digitalisering"]
KEYS = "Biblioteksplanen följs upp i Skåne, Örebro och Luleå 🦌 "
GOAL_P99_MS = 150.0


class RoomLike(Protocol):
    """What the bench drives: NotesRoom, or the plain relay baseline."""

    def join(self, peer: Hashable) -> list[Outbound]: ...

    async def handle(self, message: bytes, sender: Hashable) -> list[Outbound]: ...


class PlainRelay:
    """Baseline: forwards every message to the others, no parsing, no storage."""

    def __init__(self, greeting: bytes) -> None:
        self._greeting = greeting

    def join(self, peer: Hashable) -> list[Outbound]:
        return [("sender", self._greeting)]

    async def handle(self, message: bytes, sender: Hashable) -> list[Outbound]:
        return [("others", message)]


class Transport(Protocol):
    """Carries a room's outbound messages to its peers (in-process queues, or socket.io)."""

    def deliver(self, room: int, sender: str, outbound: list[Outbound], sent_at: float) -> None: ...


@dataclass
class QueueTransport:
    """One asyncio queue per editor; a reader task per editor records arrival latency."""

    peers: dict[int, list[str]]
    inboxes: dict[str, asyncio.Queue[float]] = field(default_factory=dict)

    def deliver(self, room: int, sender: str, outbound: list[Outbound], sent_at: float) -> None:
        for target, _data in outbound:
            names = [sender] if target == "sender" else [p for p in self.peers[room] if p != sender]
            for name in names:
                self.inboxes[name].put_nowait(sent_at)


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    handle_ms: list[float] = field(default_factory=list)
    keystrokes: int = 0


async def editor(
    name: str, room_no: int, room: RoomLike, transport: Transport, stop: float, figures: Figures
) -> None:
    """Type 2 characters a second into one section, from a random phase."""
    client = await greet(room, name)
    rng = random.Random(name)
    section = client.section(rng.choice(THEMES))
    await asyncio.sleep(rng.random() * 0.5)
    tick = time.perf_counter()
    while tick < stop:
        section += KEYS[figures.keystrokes % len(KEYS)]
        for message in client.take_outbox():
            await send(name, room_no, room, transport, message, figures)
        tick += 0.5
        await asyncio.sleep(max(0.0, tick - time.perf_counter()))


async def greet(room: RoomLike, name: str) -> NotesClient:
    """The join handshake (both sync steps) before the clock starts."""
    client = NotesClient()
    for _target, message in room.join(name):
        client.receive(message)
    if isinstance(room, NotesRoom):
        for _target, message in await room.handle(client.hello(), name):
            client.receive(message)
    return client


async def send(
    name: str, room_no: int, room: RoomLike, transport: Transport, message: bytes, f: Figures
) -> None:
    sent_at = time.perf_counter()
    outbound = await room.handle(message, name)
    f.handle_ms.append((time.perf_counter() - sent_at) * 1000)
    f.keystrokes += 1
    transport.deliver(room_no, name, outbound, sent_at)


async def reader(inbox: asyncio.Queue[float], figures: Figures) -> None:
    while True:
        sent_at = await inbox.get()
        figures.latencies_ms.append((time.perf_counter() - sent_at) * 1000)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


async def run(kind: str, rooms: int, editors: int, seconds: float) -> dict[str, object]:
    """One timed run; ``kind`` is ``notes`` or ``relay``."""
    storage = MemoryNotesStorage()
    if kind == "notes":
        room_objs: list[RoomLike] = [
            await NotesRoom.open(f"rum-{i}", THEMES, storage) for i in range(rooms)
        ]
    else:  # editors still need the sections to type into: take them from a real room
        seed = await NotesRoom.open("seed", THEMES, MemoryNotesStorage())
        room_objs = [PlainRelay(sync_step2(seed.snapshot())) for _ in range(rooms)]
    peers = {i: [f"r{i}-e{j}" for j in range(editors)] for i in range(rooms)}
    transport = QueueTransport(peers)
    figures = Figures()
    readers = []
    for names in peers.values():
        for name in names:
            transport.inboxes[name] = asyncio.Queue()
            readers.append(asyncio.create_task(reader(transport.inboxes[name], figures)))
    process = psutil.Process()
    cpu0, wall0 = process.cpu_times(), time.perf_counter()
    stop = wall0 + seconds
    await asyncio.gather(*(
        editor(name, i, room_objs[i], transport, stop, figures)
        for i, names in peers.items() for name in names
    ))
    await asyncio.sleep(0.2)  # let the last deliveries land
    cpu1, wall1 = process.cpu_times(), time.perf_counter()
    for task in readers:
        task.cancel()
    result: dict[str, object] = {
        "keystrokes": figures.keystrokes,
        "deliveries": len(figures.latencies_ms),
        "p50_ms": round(percentile(figures.latencies_ms, 50), 2),
        "p99_ms": round(percentile(figures.latencies_ms, 99), 2),
        "max_ms": round(max(figures.latencies_ms, default=float("nan")), 2),
        "handle_p99_ms": round(percentile(figures.handle_ms, 99), 3),
        "cpu_percent_of_core": round(
            100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0), 1
        ),
        "rss_mb": round(process.memory_info().rss / 2**20, 1),
    }
    if kind == "notes":
        result.update(await history_figures(storage, room_objs))  # type: ignore[arg-type]
    return result


async def history_figures(storage: MemoryNotesStorage, rooms: list[NotesRoom]) -> dict[str, int]:
    """Bytes stored at the end of the run (log since the last compaction + snapshot) and after
    a final compaction, against the full history of every update ever appended."""
    at_end = sum(storage.stored_bytes(r.room_id) for r in rooms)
    for room in rooms:
        await room.compact()
    compacted = sum(storage.stored_bytes(r.room_id) for r in rooms)
    return {"history_bytes": storage.appended_bytes, "stored_bytes_at_end": at_end,
            "compacted_bytes": compacted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rooms", type=int, default=21)
    parser.add_argument("--editors", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_notes"),
        help="PostgreSQL database the served run may wipe")
    parser.add_argument("--workers", type=int, default=3, help="client processes")
    parser.add_argument("--in-process-only", action="store_true")
    args = parser.parse_args()
    relay = asyncio.run(run("relay", args.rooms, args.editors, args.seconds))
    print("in process, plain relay (baseline):", relay)
    notes = asyncio.run(run("notes", args.rooms, args.editors, args.seconds))
    print("in process, NotesRoom (validate, store, apply, relay):", notes)
    summary: dict[str, object] = {
        "bench": "notes", "rooms": args.rooms, "editors_per_room": args.editors,
        "seconds": args.seconds, "cpu_count": os.cpu_count(), "in_process": notes,
        "in_process_relay": relay,
        "ratio_p99_notes_vs_relay": round(notes["p99_ms"] / relay["p99_ms"], 2),  # type: ignore[operator]
        "goal_p99_ms": GOAL_P99_MS,
    }
    main_p99 = notes["p99_ms"]
    if not args.in_process_only:
        from bench.notes_served import run_served

        served = run_served(args.database_url, args.rooms, args.editors, args.seconds, args.workers)
        print("traffpunkt serve over socket.io (main figures):", served)
        summary["served"] = served
        summary["ratio_p99_served_vs_in_process"] = round(
            served["p99_ms"] / notes["p99_ms"], 2)  # type: ignore[operator]
        main_p99 = served["p99_ms"]
    summary["main"] = "in_process" if args.in_process_only else "served"
    summary["goal_met"] = main_p99 < GOAL_P99_MS  # type: ignore[operator]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
