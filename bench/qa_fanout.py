"""Q&A fan-out: how fast an approved question reaches every participant's socket.

Run with no arguments (1,000 clients). Measures, in one run, with a client set each:
  1. the real server: `traffpunkt serve` on a fresh SQLite database with the demo event,
     N registered participants and pending questions; a moderator approves questions at a
     steady rate (latency phase), then as fast as acks come back with a few in flight
     (throughput phase); every participant receives each `qa.question` broadcast;
  2. a bare python-socketio broadcast server (same ASGI server, Hypercorn) that broadcasts a
     payload of the same shape and size on each request: the ceiling for (1).
Both servers run side by side: the latency phase of one, then of the other; then throughput
chunks alternate between them (ours, bare, ours, bare, ...), so a load spike elsewhere on this
shared machine falls on both alike. Each phase prints the server's CPU, its event-loop lag and
GC pauses (from its /metrics) and the CPU the bench's own clients took.
Latency is from the moderator's emit to each client's receipt (CLOCK_MONOTONIC is one clock
for all processes of the machine). Clients are bench/rawsio.py's raw engine.io v4 / socket.io
v5 websocket clients on aiohttp, spread over a few worker processes: 1,000 python-socketio
AsyncClients in one process would measure the client, not the server.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    ClientCpu,
    Probe,
    Server,
    describe,
    free_port,
    profiled,
    wait_port,
)
from bench.rawsio import RawSocket  # noqa: E402

SECRET = "bench-secret-key-not-for-production"
EVENT = "qa.question"
WARMUP = 3  # approvals sent before measuring, on both servers alike


# --------------------------------------------------------------------------- raw clients


class Participant:
    """One participant on a raw socket.io connection (bench/rawsio.py), noting arrivals."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str,
                 arrivals: list[tuple[int, float]]) -> None:
        self.token, self.arrivals = token, arrivals
        self.sock = RawSocket(http, url, self.on_event)

    async def start(self, subscribe: bool) -> bool:
        if not await self.sock.connect({"token": self.token}):
            return False
        if subscribe:  # join the Q&A audience the way the live page does
            await self.sock.call("qa.snapshot", {})
        return True

    async def on_event(self, name: str, data: Any) -> None:
        if name == EVENT:
            self.arrivals.append((data["question"]["id"], time.monotonic()))


def worker(conn: Connection, url: str, tokens: list[str], subscribe: bool) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    asyncio.run(_worker(conn, url, tokens, subscribe))


async def _worker(conn: Connection, url: str, tokens: list[str], subscribe: bool) -> None:
    arrivals: list[tuple[int, float]] = []
    gate = asyncio.Semaphore(20)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients = [Participant(http, url, t, arrivals) for t in tokens]

        async def start(c: Participant) -> bool:
            async with gate:
                return await c.start(subscribe)

        ok = await asyncio.gather(*(start(c) for c in clients), return_exceptions=True)
        conn.send(("ready", sum(1 for r in ok if r is True)))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        conn.send(("arrivals", arrivals))
        await asyncio.gather(*(c.sock.close() for c in clients), return_exceptions=True)


# --------------------------------------------------------------------------- bare server


def bare_server(port: int) -> None:
    """The baseline: python-socketio alone, one room, one broadcast per request."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=20, ping_timeout=20)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, "all")

    @sio.on("approve")
    async def approve(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.emit(EVENT, {"version": data["id"], "question": _sample(data["id"])}, to="all")
        return {"ok": True}

    from server.platform.runtime import tune_gc

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    tune_gc()  # the same runtime policy as `traffpunkt serve`
    asyncio.run(serve(socketio.ASGIApp(sio), config))  # type: ignore[arg-type]


def _sample(qid: int) -> dict[str, Any]:
    """The same fields and about the same size as the real server's public question view."""
    now = "2026-11-05T09:00:00.000000+00:00"
    return {"id": qid, "text": f"Fråga nummer {qid}: hur når biblioteksplanen ut till alla?",
            "author": "Deltagare 1", "anonymous": False, "item_id": None, "state": "approved",
            "votes": 0, "created_at": now, "approved_at": now, "answered_at": None,
            "answer": "", "answered_by": ""}


# --------------------------------------------------------------------------- setup


async def prepare(url: str, clients: int, questions: int) -> dict[str, Any]:
    """Migrate, seed the demo event, register participants, ask questions, mint tokens."""
    from server.platform.auth import Principal, Tokens, hash_password
    from server.platform.db import Database, upgrade_async
    from server.platform.models import User
    from server.platform.registration import RegistrationIn, register
    from server.platform.settings import Settings
    from server.programme.importer import import_event, read_event_file
    from server.qa import service as qa

    await upgrade_async(url)
    db, tokens = Database(url), Tokens(SECRET)
    async with db.transaction() as session:
        event = await import_event(session, read_event_file(Settings(
            database_url=url, secret_key=SECRET).demo_event_file))
        regs = [await register(session, event, RegistrationIn(
            name=f"Deltagare {n}", organisation="Bibliotek", region="M")) for n in range(clients)]
        mod = User(username="moderator", display_name="Moderator", role="moderator",
                   password_hash=hash_password("bench-password-1"))
        session.add(mod)
        await session.flush()
        people = [Principal("participant", r.id, r.name, event_id=event.id) for r in regs]
        ids = [(await qa.ask(session, people[n % clients], event.id, f"Fråga nummer {n}: hur "
                             "når biblioteksplanen ut till alla?")).questions[0].id
               for n in range(questions)]
    await db.close()
    return {
        "participants": [tokens.socket_token(p, event.id) for p in people], "question_ids": ids,
        "moderator": tokens.socket_token(Principal("user", mod.id, "Moderator", "moderator"),
                                         event.id),
    }


# --------------------------------------------------------------------------- measuring


class Run:
    """One server under test, its client workers, and the moderator that drives it."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], url: str,
                 args: argparse.Namespace, tokens: list[str], subscribe: bool,
                 metrics: bool) -> None:
        self.name, self.proc, self.url, self.args = name, proc, url, args
        self.metrics = metrics  # the server has /metrics (loop lag, GC pauses)
        self.phases: dict[str, dict[str, Any]] = {}
        self.tokens, self.subscribe = tokens, subscribe
        self.pipes: list[Connection] = []
        self.workers: list[mp.Process] = []
        self.rss_peak = 0
        self.sends: dict[int, tuple[str, float]] = {}
        self.burst_cpu = 0.0
        self.chunks: list[list[int]] = []

    def start_clients(self) -> int:
        chunks = [self.tokens[i::self.args.workers] for i in range(self.args.workers)]
        for chunk in chunks:
            mine, theirs = mp.Pipe()
            p = mp.Process(target=worker, args=(theirs, self.url, chunk, self.subscribe),
                           daemon=True)
            p.start()
            self.pipes.append(mine)
            self.workers.append(p)
        return sum(pipe.recv()[1] for pipe in self.pipes)

    def rss(self) -> int:
        proc = psutil.Process(self.proc.pid)
        total = proc.memory_info().rss + sum(
            c.memory_info().rss for c in proc.children(recursive=True))
        self.rss_peak = max(self.rss_peak, total)
        return total

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (user + system)."""
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    async def steady(self, moderator: socketio.AsyncClient, event: str,
                     ids: list[int]) -> list[int]:
        """Warm-up, then the latency phase at a steady rate; returns the ids left for bursts."""
        steady_n = int(self.args.rate * self.args.seconds)
        warm, ids = ids[:WARMUP], ids[WARMUP:]
        steady, rest = ids[:steady_n], ids[steady_n:]
        for qid in warm:  # first statements compiled, caches filled: not part of the figures
            self.sends[qid] = ("warmup", time.monotonic())
            await self._call(moderator, event, qid)
        await asyncio.sleep(1)
        probe, clients = self.probe()
        start = time.monotonic()
        pending = []
        for n, qid in enumerate(steady):
            await asyncio.sleep(max(0.0, start + n / self.args.rate - time.monotonic()))
            self.sends[qid] = ("steady", time.monotonic())
            pending.append(asyncio.create_task(self._call(moderator, event, qid)))
            if n % 10 == 0:
                self.rss()
        await asyncio.gather(*pending)
        self.note("steady", probe, clients)
        return rest

    async def burst(self, moderator: socketio.AsyncClient, event: str, ids: list[int]) -> None:
        """One throughput chunk: approvals as fast as acks come back, a few in flight."""
        gate = asyncio.Semaphore(self.args.in_flight)
        self.chunks.append(ids)

        async def one(qid: int) -> None:
            async with gate:
                self.sends[qid] = ("burst", time.monotonic())
                await self._call(moderator, event, qid)

        probe, clients = self.probe()
        cpu0 = self.cpu()
        with profiled(self.proc.pid, f"qa_fanout-{self.name}-burst{len(self.chunks)}"):
            await asyncio.gather(*(one(q) for q in ids))
        self.burst_cpu += self.cpu() - cpu0
        await asyncio.sleep(1.0)  # the chunk's last deliveries, before the other server's turn
        self.note(f"burst{len(self.chunks)}", probe, clients)
        self.rss()

    def probe(self) -> tuple[Probe, ClientCpu]:
        return (Probe(self.proc.pid, self.url if self.metrics else None),
                ClientCpu(p.pid for p in self.workers if p.pid is not None))

    def note(self, phase: str, probe: Probe, clients: ClientCpu) -> None:
        server, used = probe.figures(), clients.figures()
        self.phases[phase] = {**server, **used}
        print(f"[{self.name}] {phase}: {describe(server, used)}", file=sys.stderr, flush=True)

    async def _call(self, moderator: socketio.AsyncClient, event: str, qid: int) -> None:
        payload = {"question_id": qid} if event == "qa.approve" else {"id": qid}
        answer = await moderator.call(event, payload, timeout=60)
        if not answer.get("ok"):
            raise RuntimeError(f"{event} failed: {answer}")

    def collect(self) -> list[tuple[int, float]]:
        arrivals: list[tuple[int, float]] = []
        for pipe in self.pipes:
            pipe.send("stop")
        for pipe in self.pipes:
            arrivals.extend(pipe.recv()[1])
        for p in self.workers:
            p.join(10)
        return arrivals

    def figures(self, arrivals: list[tuple[int, float]], connected: int) -> dict[str, Any]:
        phase = {q: kind for q, (kind, _) in self.sends.items()}
        steady = [t - self.sends[q][1] for q, t in arrivals if phase.get(q) == "steady"]
        burst = [(q, t) for q, t in arrivals if phase.get(q) == "burst"]
        n_steady = sum(1 for k, _ in self.sends.values() if k == "steady")
        n_burst = sum(1 for k, _ in self.sends.values() if k == "burst")
        last_arrival: dict[int, float] = {}
        for q, t in burst:
            last_arrival[q] = max(t, last_arrival.get(q, 0.0))
        busy = sum(max(last_arrival.get(q, 0.0) for q in chunk)
                   - min(self.sends[q][1] for q in chunk) for chunk in self.chunks)
        ms = sorted(x * 1000 for x in steady)
        return {
            "clients": connected, "latency_ms_p50": round(statistics.median(ms), 1),
            "latency_ms_p99": round(ms[int(len(ms) * 0.99) - 1], 1),
            "latency_ms_max": round(ms[-1], 1),
            "steady_delivered": round(len(steady) / (n_steady * connected), 4),
            "burst_delivered": round(len(burst) / (n_burst * connected), 4),
            "msgs_per_s": round(len(burst) / busy),
            "approvals_per_s": round(n_burst / busy, 1),
            "server_rss_mb": round(self.rss_peak / 2**20, 1),
            "server_cpu_ms_per_approval": round(self.burst_cpu * 1000 / n_burst, 1),
            "server_cpu_share": round(self.burst_cpu / busy, 2),
            "phases": self.phases,
        }


@dataclass
class Side:
    """One server under test in the interleaved run: its Run, moderator, event and ids."""

    run: Run
    token: str | None
    event: str
    ids: list[int]
    moderator: socketio.AsyncClient | None = None
    connected: int = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.connected = await loop.run_in_executor(None, self.run.start_clients)
        self.run.rss()
        print(f"[{self.run.name}] {self.connected} clients connected", file=sys.stderr,
              flush=True)
        self.moderator = socketio.AsyncClient(reconnection=False)
        await self.moderator.connect(self.run.url,
                                     auth={"token": self.token} if self.token else None,
                                     transports=["websocket"], wait_timeout=30)

    async def finish(self) -> dict[str, Any]:
        assert self.moderator is not None
        await self.moderator.disconnect()
        arrivals = await asyncio.get_running_loop().run_in_executor(None, self.run.collect)
        result = self.run.figures(arrivals, self.connected)
        print(f"[{self.run.name}] {result}", file=sys.stderr, flush=True)
        return result


async def measure(args: argparse.Namespace, ours: Side, bare: Side) -> tuple[dict[str, Any],
                                                                         dict[str, Any]]:
    """Both servers up with their own clients; the latency phase of each in turn; then the
    throughput chunks alternate (ours, bare, ours, ...), so a load spike elsewhere on this
    shared machine falls on both alike instead of on whichever ran second."""
    for side in (ours, bare):
        await side.connect()
    for side in (ours, bare):
        assert side.moderator is not None
        side.ids = await side.run.steady(side.moderator, side.event, side.ids)
        await asyncio.sleep(2)
    chunk = max(1, args.burst // args.chunks)
    for k in range(args.chunks):
        for side in (ours, bare):
            assert side.moderator is not None
            await side.run.burst(side.moderator, side.event, side.ids[k * chunk:(k + 1) * chunk])
    return await ours.finish(), await bare.finish()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    total_q = WARMUP + int(args.rate * args.seconds) + args.burst
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        t0 = time.monotonic()
        setup = await prepare(url, args.clients, total_q)
        print(f"setup {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
        port = free_port()
        bare_proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)],
                                     cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_port(port, bare_proc)
            with Server(url, SECRET) as server:
                assert server.proc is not None
                ours, bare = await measure(args, Side(
                    Run("traffpunkt", server.proc, server.url, args, setup["participants"],
                        subscribe=True, metrics=True),
                    setup["moderator"], "qa.approve", setup["question_ids"],
                ), Side(
                    Run("bare", bare_proc, f"http://127.0.0.1:{port}", args,
                        setup["participants"], subscribe=False, metrics=False),
                    None, "approve", list(range(1, len(setup["question_ids"]) + 1)),
                ))
        finally:
            stop(bare_proc)
    return {
        "bench": "qa_fanout", "clients": args.clients, "workers": args.workers,
        "rate_per_s": args.rate, "cores": os.cpu_count(), "traffpunkt": ours, "bare": bare,
        "throughput_ratio": round(ours["msgs_per_s"] / bare["msgs_per_s"], 2),
        "p99_ratio": round(ours["latency_ms_p99"] / bare["latency_ms_p99"], 2),
        "rss_ratio": round(ours["server_rss_mb"] / bare["server_rss_mb"], 2),
        "goal_throughput_ratio": 0.8, "goal_p99_ms": 250,
        "meets_goals": ours["msgs_per_s"] >= 0.8 * bare["msgs_per_s"]
        and ours["latency_ms_p99"] < 250
        and ours["steady_delivered"] == ours["burst_delivered"] == 1.0,
    }


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4, help="client processes")
    p.add_argument("--rate", type=float, default=2.0,
                   help="approvals per second in the latency phase (keep it below capacity)")
    p.add_argument("--seconds", type=float, default=15.0, help="length of the latency phase")
    p.add_argument("--burst", type=int, default=200, help="approvals in the throughput phase")
    p.add_argument("--chunks", type=int, default=4,
                   help="throughput chunks per server, alternating between the servers")
    p.add_argument("--in-flight", type=int, default=4, help="unacknowledged approvals at once")
    p.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    p.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.bare_server:
        bare_server(arguments.bare_server)
    else:
        print(json.dumps(asyncio.run(main(arguments))))
