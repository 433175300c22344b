"""A flood of large forms while 200 participants use the Q&A (issue 19, point 1).

Run with no arguments. One `traffpunkt serve` on a fresh PostgreSQL database (as in production;
`--database-url ''` for a SQLite file) with the demo event; 200 participants on raw socket.io
connections (bench/rawsio.py, in a worker process apart from the server) each ask for the Q&A
state (`qa.snapshot`, an acknowledged round trip through the database) once a second,
staggered. Windows of PHASE seconds alternate PAIRS times, and each kind's round trips are
pooled:
  1. quiet: that, nothing else (the baseline);
  2. flood: the same, while FLOODERS attacker connections each post a 20 MB urlencoded body of
     many small fields to /login, /e/<slug>/register, /tillganglighet or the socket-token route
     every FLOOD_EVERY seconds: 80 MB/s of attack, more than a municipal library's whole line
     (before the fix one such request was parsed on the event loop: 4.4 s for everyone else).
     Posting as fast as loopback allows would measure the bench's own flooder; it runs at
     nice 19, its CPU standing for a machine elsewhere;
  3. decoy: the same flood aimed at a decoy server on this machine that answers 413 at once,
     as the real server does: what the attack costs the shared machine (kernel, attacker),
     with nothing of it reaching the real server.
Printed: the participants' p50/p99 round trip per kind, the ratio flood/quiet (goal: p99 ratio
<= 1.5), decoy/quiet and flood/decoy (the server's own share), every round trip that failed,
the server's CPU, event-loop lag and qa.snapshot handler time per kind (from its /metrics),
its RSS before and after the flood (goal: it does not stay grown), what the flood got back,
and the CPU the bench's own processes took.
Last line: one JSON object.
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
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    ClientCpu,
    Server,
    describe,
    free_port,
    fresh_database,
    wait_port,
)
from bench.qa_fanout import SECRET, prepare  # noqa: E402
from bench.rawsio import RawSocket  # noqa: E402

PARTICIPANTS = 200
PHASE = 8.0  # seconds per window; PAIRS quiet and flooded windows alternate
PAIRS = 3
FLOODERS = 4
FLOOD_BYTES = 20 * 1024 * 1024
FLOOD_EVERY = 1.0
TARGETS = ["/login", "/e/hosten-2020/register", "/tillganglighet",
           "/api/events/hosten-2020/socket-token"]
GOAL_RATIO = 1.5


def participants(conn: Connection, url: str, tokens: list[str]) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    asyncio.run(_participants(conn, url, tokens))


async def _participants(conn: Connection, url: str, tokens: list[str]) -> None:
    """Connect, then on each ("phase", seconds): one qa.snapshot a second each; round trips."""
    async def ignore(_name: str, _data: Any) -> None:
        return None

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        socks = [RawSocket(http, url, ignore) for _ in tokens]
        gate = asyncio.Semaphore(20)

        async def connect(sock: RawSocket, token: str) -> bool:
            async with gate:
                return await sock.connect({"token": token})

        ready = await asyncio.gather(*(connect(s, t) for s, t in zip(socks, tokens, strict=True)))
        conn.send(("ready", sum(ready)))
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                break
            conn.send(("rtts", await _phase(socks, command[1])))
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)


async def _phase(socks: list[RawSocket], seconds: float) -> dict[str, Any]:
    rtts: list[float] = []
    failed = 0
    end = time.monotonic() + seconds

    async def one(n: int, sock: RawSocket) -> None:
        nonlocal failed
        await asyncio.sleep(n / len(socks))  # staggered over the first second
        while time.monotonic() < end:
            sent = time.monotonic()
            try:
                answer = await sock.call("qa.snapshot", None, timeout=30)
                if not answer or not answer.get("ok"):
                    failed += 1
                else:
                    rtts.append(time.monotonic() - sent)
            except Exception:
                failed += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - sent)))

    await asyncio.gather(*(one(n, s) for n, s in enumerate(socks)))
    return {"rtts": rtts, "failed": failed}


def flooder(conn: Connection, url: str, seconds: float) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    # The attacker's own CPU stands for a machine elsewhere: it yields this machine's cores to
    # the server and the participants. Its bytes still arrive at the server's sockets.
    os.nice(19)
    asyncio.run(_flood(conn, url, seconds))


async def _flood(conn: Connection, url: str, seconds: float) -> None:
    """Large many-field forms, each connection posting the next as soon as it is answered."""
    body = b"&".join(b"f%d=x" % n for n in range(FLOOD_BYTES // 8))[:FLOOD_BYTES]
    statuses: Counter[str] = Counter()
    end = time.monotonic() + seconds

    async def one(target: str) -> None:
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < end:
                sent = time.monotonic()
                try:
                    async with http.post(url + target, data=body, headers={
                            "Content-Type": "application/x-www-form-urlencoded"}) as answer:
                        await answer.read()
                        statuses[str(answer.status)] += 1
                except aiohttp.ClientError as exc:  # the server may close a refused upload
                    statuses[type(exc).__name__] += 1
                await asyncio.sleep(max(0.0, FLOOD_EVERY - (time.monotonic() - sent)))

    await asyncio.gather(*(one(TARGETS[n % len(TARGETS)]) for n in range(FLOODERS)))
    conn.send(dict(statuses))


def decoy_server(port: int) -> None:
    """Answers every request 413 at once and closes, as the real server does to the flood: the
    flood aimed here costs the machine (its kernel, the attacker's process) what it costs
    there, and nothing of the real server."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": b"too large"})

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


def receive(pipe: Connection, timeout: float) -> Any:
    """The next message from a bench process, or an error (never a bench that hangs)."""
    if not pipe.poll(timeout):
        raise RuntimeError("a bench process did not answer: see its traceback above")
    return pipe.recv()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url_db = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await fresh_database(url_db)
        setup = await prepare(url_db, args.participants, 1)
        limits = {"REGISTER_PER_ADDRESS": "1000000", "LOGIN_PER_ADDRESS": "1000000"}
        decoy_port = free_port()
        decoy = subprocess.Popen([sys.executable, __file__, "--decoy-server", str(decoy_port)],
                                 cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Server(url_db, SECRET, env=limits, args=["--no-media"]) as server:
                wait_port(decoy_port, decoy)
                return await measure(args, server, setup["participants"],
                                     f"http://127.0.0.1:{decoy_port}")
        finally:
            decoy.terminate()
            decoy.wait(10)


async def measure(args: argparse.Namespace, server: Server, tokens: list[str],
                  decoy_url: str) -> dict[str, Any]:
    url = server.url
    proc = psutil.Process(server.pid)
    mine, theirs = mp.Pipe()
    clients = mp.Process(target=participants, args=(theirs, url, tokens), daemon=True)
    clients.start()
    loop = asyncio.get_running_loop()
    kind, ready = await loop.run_in_executor(None, mine.recv)
    assert kind == "ready" and ready == len(tokens), (kind, ready)

    async def phase(kind: str) -> tuple[dict[str, Any], dict[str, int], dict[str, Any]]:
        probe = server.probe()
        pids = [clients.pid]
        mine.send(("phase", args.phase))
        flood_pipe = None
        if kind != "quiet":
            flood_pipe, theirs_f = mp.Pipe()
            target = url if kind == "flood" else decoy_url
            attacker = mp.Process(target=flooder, args=(theirs_f, target, args.phase),
                                  daemon=True)
            attacker.start()
            pids.append(attacker.pid)
        used = ClientCpu(p for p in pids if p is not None)
        _, result = await loop.run_in_executor(None, receive, mine, args.phase + 60)
        statuses = (await loop.run_in_executor(None, receive, flood_pipe, 60)
                    if flood_pipe else {})
        seen = {**probe.figures(), **used.figures()}
        print(f"  {kind} window: {describe(seen, used.figures())}",
              file=sys.stderr, flush=True)
        return result, statuses, seen

    await phase("quiet")  # warm-up: connections settle, caches fill
    rss_before = proc.memory_info().rss
    # Quiet and flooded windows alternate, and each kind's round trips are pooled: a p99 from
    # one window of each swung by 3x between runs on this shared machine.
    kinds = ("quiet", "flood", "decoy")
    pooled: dict[str, dict[str, Any]] = {
        kind: {"rtts": [], "failed": 0, "windows": []} for kind in kinds}
    statuses: Counter[str] = Counter()
    for _ in range(args.pairs):
        for kind in kinds:
            result, answers, seen = await phase(kind)
            pooled[kind]["rtts"] += result["rtts"]
            pooled[kind]["failed"] += result["failed"]
            pooled[kind]["windows"].append(seen)
            if kind == "flood":
                statuses.update(answers)
    await asyncio.sleep(2.0)  # let the server hand back what the flood's buffers took
    rss_after = proc.memory_info().rss
    mine.send(("stop",))
    clients.join(10)
    base, flooded, decoyed = pooled["quiet"], pooled["flood"], pooled["decoy"]
    b, f, d = (percentiles(base["rtts"]), percentiles(flooded["rtts"]),
               percentiles(decoyed["rtts"]))
    ratio = round(f["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else float("nan")
    machine = round(d["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else float("nan")
    own = round(f["p99_ms"] / d["p99_ms"], 2) if d["p99_ms"] else float("nan")

    def server_view(windows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"server_cpu": round(statistics.median(
                    w["server_cpu_share_of_core"] for w in windows), 2),
                "loop_lag_ms_p99_under": max(w["loop_lag_ms"]["p99_under"] for w in windows),
                "loop_lag_ms_max_under": max(w["loop_lag_ms"]["max_under"] for w in windows),
                "clients_cores_used": round(statistics.median(
                    w["clients_cores_used"] for w in windows), 2),
                "qa_snapshot_handler_ms_p99_under": max(
                    w["socket_handlers"].get("qa.snapshot", {}).get("p99_under_ms", 0)
                    for w in windows)}

    return {
        "bench": "hostile", "participants": len(tokens), "phase_s": args.phase,
        "pairs": args.pairs,
        "baseline": {**b, "calls": len(base["rtts"]), "failed": base["failed"],
                     **server_view(base["windows"])},
        "flood": {**f, "calls": len(flooded["rtts"]), "failed": flooded["failed"],
                  **server_view(flooded["windows"]), "every_s": FLOOD_EVERY,
                  "answers": dict(statuses), "connections": FLOODERS,
                  "body_mb": FLOOD_BYTES // 2**20},
        "decoy": {**d, "calls": len(decoyed["rtts"]), "failed": decoyed["failed"],
                  **server_view(decoyed["windows"])},
        "p99_ratio": ratio, "goal_ratio": GOAL_RATIO, "met": ratio <= GOAL_RATIO,
        "p99_ratio_flood_at_decoy": machine, "p99_ratio_flood_vs_decoy": own,
        "server_rss_mb": {"before": rss_before // 2**20, "after": rss_after // 2**20},
    }


def report(r: dict[str, Any]) -> None:
    print(f"participants: {r['participants']}, {r['phase_s']:.0f} s per phase")
    for name in ("baseline", "flood", "decoy"):
        p = r[name]
        print(f"  {name:8} qa.snapshot round trip p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms "
              f"({p['calls']} calls, {p['failed']} failed; server {p['server_cpu']} of a core, "
              f"loop lag p99 < {p['loop_lag_ms_p99_under']} ms, max < "
              f"{p['loop_lag_ms_max_under']} ms; bench clients {p['clients_cores_used']} cores)")
    print(f"  flood answers: {r['flood']['answers']} ({r['flood']['connections']} connections "
          f"posting {r['flood']['body_mb']} MB forms)")
    print(f"  p99 ratio flood/baseline: {r['p99_ratio']} (goal <= {r['goal_ratio']}: "
          f"{'met' if r['met'] else 'NOT met'})")
    print(f"  the same flood aimed at a decoy on this machine: p99 ratio "
          f"{r['p99_ratio_flood_at_decoy']} (what the machine's sharing costs); "
          f"flood at the server / at the decoy: {r['p99_ratio_flood_vs_decoy']} "
          f"(the server's own share)")
    print(f"  server RSS: {r['server_rss_mb']['before']} MB before, "
          f"{r['server_rss_mb']['after']} MB after the flood")
    print(json.dumps(r))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=PARTICIPANTS)
    parser.add_argument("--phase", type=float, default=PHASE)
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--decoy-server", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_hostile",
        help="the server's database (PostgreSQL, as in production; '' for a SQLite file)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.decoy_server:
        decoy_server(arguments.decoy_server)
    else:
        report(asyncio.run(main(arguments)))
