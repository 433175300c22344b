"""A flood of large forms while 200 participants use the Q&A (issue 19, point 1).

Run with no arguments. One `traffpunkt serve` on a fresh SQLite database with the demo event;
200 participants on raw socket.io connections (bench/rawsio.py, in a worker process apart from
the server) each ask for the Q&A state (`qa.snapshot`, an acknowledged round trip through the
database) once a second, staggered. Measured in the same run:
  1. baseline: PHASE seconds of that, nothing else;
  2. flood: the same, while FLOODERS attacker connections each post a 20 MB urlencoded body of
     many small fields to /login, /e/<slug>/register, /tillganglighet or the socket-token route
     every FLOOD_EVERY seconds: 80 MB/s of attack, more than a municipal library's whole line
     (before the fix one such request was parsed on the event loop: 4.4 s for everyone else).
     Posting as fast as loopback allows would measure the bench's own flooder, which then
     takes a core of this two-core machine, not the server's defence.
Printed: the participants' p50/p99 round trip in both phases and their ratio (goal: p99 ratio
<= 1.5), every round trip that failed, the server's RSS before and after the flood (goal: it
does not stay grown), what the flood got back, and the CPU share the bench's own clients took.
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

from bench.qa_fanout import SECRET, free_port, prepare, wait_port  # noqa: E402
from bench.rawsio import RawSocket  # noqa: E402

PARTICIPANTS = 200
PHASE = 20.0
FLOODERS = 4
FLOOD_BYTES = 20 * 1024 * 1024
FLOOD_EVERY = 1.0
TARGETS = ["/login", "/e/hosten-2020/register", "/tillganglighet",
           "/api/events/hosten-2020/socket-token"]
GOAL_RATIO = 1.5


def participants(conn: Connection, url: str, tokens: list[str]) -> None:
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


def start_server(tmp: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRAFFPUNKT_ENV": "test", "SECRET_KEY": SECRET,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "MEDIA_ROOT": f"{tmp}/media",
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "REGISTER_PER_ADDRESS": "1000000",
           "LOGIN_PER_ADDRESS": "1000000"}
    log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--no-media",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    wait_port(port, proc)
    return proc


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url_db = f"sqlite+aiosqlite:///{tmp}/bench.db"
        setup = await prepare(url_db, args.participants, 1)
        port = free_port()
        server = start_server(tmp, port)
        url = f"http://127.0.0.1:{port}"
        try:
            return await measure(args, server, url, setup["participants"])
        finally:
            server.terminate()
            server.wait(10)


async def measure(args: argparse.Namespace, server: subprocess.Popen[bytes], url: str,
                  tokens: list[str]) -> dict[str, Any]:
    proc = psutil.Process(server.pid)
    mine, theirs = mp.Pipe()
    clients = mp.Process(target=participants, args=(theirs, url, tokens), daemon=True)
    clients.start()
    client_ps = psutil.Process(clients.pid)
    loop = asyncio.get_running_loop()
    kind, ready = await loop.run_in_executor(None, mine.recv)
    assert kind == "ready" and ready == len(tokens), (kind, ready)

    async def phase(flood: bool) -> tuple[dict[str, Any], dict[str, int], float]:
        cpu_before = client_ps.cpu_times()
        proc.cpu_percent()
        started = time.monotonic()
        mine.send(("phase", args.phase))
        flood_pipe = None
        if flood:
            flood_pipe, theirs_f = mp.Pipe()
            mp.Process(target=flooder, args=(theirs_f, url, args.phase), daemon=True).start()
        _, result = await loop.run_in_executor(None, mine.recv)
        statuses = await loop.run_in_executor(None, flood_pipe.recv) if flood_pipe else {}
        cpu = client_ps.cpu_times()
        share = ((cpu.user + cpu.system - cpu_before.user - cpu_before.system)
                 / (time.monotonic() - started))
        result["server_cpu"] = round(proc.cpu_percent() / 100, 2)
        return result, statuses, share

    await phase(False)  # warm-up: connections settle, caches fill
    rss_before = proc.memory_info().rss
    base, _, base_cpu = await phase(False)
    flooded, statuses, flood_cpu = await phase(True)
    await asyncio.sleep(2.0)  # let the server hand back what the flood's buffers took
    rss_after = proc.memory_info().rss
    mine.send(("stop",))
    clients.join(10)
    b, f = percentiles(base["rtts"]), percentiles(flooded["rtts"])
    ratio = round(f["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else float("nan")
    return {
        "bench": "hostile", "participants": len(tokens), "phase_s": args.phase,
        "baseline": {**b, "calls": len(base["rtts"]), "failed": base["failed"],
                     "server_cpu": base["server_cpu"]},
        "flood": {**f, "calls": len(flooded["rtts"]), "failed": flooded["failed"],
                  "server_cpu": flooded["server_cpu"], "every_s": FLOOD_EVERY,
                  "answers": statuses, "connections": FLOODERS,
                  "body_mb": FLOOD_BYTES // 2**20},
        "p99_ratio": ratio, "goal_ratio": GOAL_RATIO, "met": ratio <= GOAL_RATIO,
        "server_rss_mb": {"before": rss_before // 2**20, "after": rss_after // 2**20},
        "client_cpu_share": {"baseline": round(base_cpu, 2), "flood": round(flood_cpu, 2)},
    }


def report(r: dict[str, Any]) -> None:
    print(f"participants: {r['participants']}, {r['phase_s']:.0f} s per phase")
    for name in ("baseline", "flood"):
        p = r[name]
        print(f"  {name:8} qa.snapshot round trip p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms "
              f"({p['calls']} calls, {p['failed']} failed; server {p['server_cpu']} of a core)")
    print(f"  flood answers: {r['flood']['answers']} ({r['flood']['connections']} connections "
          f"posting {r['flood']['body_mb']} MB forms)")
    print(f"  p99 ratio flood/baseline: {r['p99_ratio']} (goal <= {r['goal_ratio']}: "
          f"{'met' if r['met'] else 'NOT met'})")
    print(f"  server RSS: {r['server_rss_mb']['before']} MB before, "
          f"{r['server_rss_mb']['after']} MB after the flood")
    print(f"  bench clients' CPU (share of a core): {r['client_cpu_share']}")
    print(json.dumps(r))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=PARTICIPANTS)
    parser.add_argument("--phase", type=float, default=PHASE)
    return parser.parse_args()


if __name__ == "__main__":
    report(asyncio.run(main(parse())))
