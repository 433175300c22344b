"""Opening breakout rooms for a full event: 1,000 connected participants across 21 regions.

A real `traffpunkt serve` process on PostgreSQL (and Redis with --redis); 1,000 registrations
made through the server's own code (server.platform.registration.register) and socket tokens
minted with server.platform.auth.Tokens; the clients are python-socketio AsyncClients over
WebSocket, split over worker processes apart from the server. A moderator opens one room per
region; reported: the time from the moderator's `breakout.open` until each client has its
`breakout.assigned` (p50, p99, max), and until each client has `breakout.closed` after
"close all rooms".
Baseline, same run, same clients, same server: one broadcast to the whole event
(`breakout.broadcast`, its text padded to the size of an assignment message); ratio = p99 of
the assignment / p99 of the baseline.

Room media capacity (key `room_media_capacity`): after the server has stopped, a short run of
bench/room_media.py's measurement (`measure`): 2 publishers at 640x480 to `--media-subscribers`
subscribers, forwarding (streaming/room.py) against the per-viewer-encode baseline (aiortc's
MediaRelay, one encode per subscriber), media in a child process measured with psutil. Reported:
CPU per forwarded stream, how many streams (publisher x subscriber) and how large a room (everyone
publishes, everyone receives the others) one media process carries in 80 % of a core, and the
ratio. `--media-window 0` skips it.

    .venv/bin/python bench/breakout.py [--clients 1000] [--workers 3] [--redis]
        [--media-subscribers 3] [--media-window 3]

Goal: p99 under 2 s. The PostgreSQL database (`--database`) is created when missing.
The last line is one JSON object.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import METRICS_TOKEN, ClientCpu, Probe, describe, ensure_database  # noqa: E402
from rooms.regions import REGIONS  # noqa: E402

SECRET = "bench-secret-key-not-for-production"
SLUG = "hosten-2020"
PHASES = ("breakout.assigned", "breakout.broadcast", "breakout.closed")


# --------------------------------------------------------------------------- set-up (server code)


async def prepare(url: str, clients: int) -> tuple[list[str], str]:
    """Fresh schema, demo event, a moderator and `clients` registrations; their socket tokens."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from server.platform.auth import Principal, Tokens, hash_password
    from server.platform.db import Database, upgrade
    from server.platform.models import User
    from server.platform.registration import RegistrationIn, register
    from server.programme.importer import import_event, read_event_file

    await ensure_database(url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await asyncio.to_thread(upgrade, url)
    db, tokens = Database(url), Tokens(SECRET)
    try:
        async with db.transaction() as session:
            event = await import_event(
                session, read_event_file(ROOT / "server/data/demo_event.json")
            )
            mod = User(
                username="bench-mod",
                display_name="Moderator",
                role="moderator",
                password_hash=hash_password("bench"),
            )
            session.add(mod)
            regs = [
                await register(
                    session,
                    event,
                    RegistrationIn(
                        name=f"Deltagare {i}", organisation="Bibliotek", region=REGIONS[i % 21].code
                    ),
                )
                for i in range(clients)
            ]
            await session.flush()
            participant = [
                tokens.socket_token(
                    Principal("participant", r.id, r.name, event_id=event.id), event.id
                )
                for r in regs
            ]
            moderator = tokens.socket_token(
                Principal("user", mod.id, "Moderator", "moderator"), event.id
            )
    finally:
        await db.close()
    return participant, moderator


def start_server(url: str, port: int, redis_url: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRAFFPUNKT_ENV": "test",
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-media-"),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "METRICS_TOKEN": METRICS_TOKEN,  # bench/_common.Probe reads its loop lag
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    # The log goes to a file (never an unread pipe); its tail explains a server that died.
    log = Path(tempfile.mkstemp(prefix="bench-breakout-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    from tests.conftest import wait_for_port

    wait_for_port(port, proc, log)
    return proc


# --------------------------------------------------------------------------- client workers


def worker(url: str, tokens: list[str], ready: Any, results: Any, go: Any) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    asyncio.run(_worker(url, tokens, ready, results, go))


async def _worker(url: str, tokens: list[str], ready: Any, results: Any, go: Any) -> None:
    import socketio

    received: dict[str, list[float]] = {p: [] for p in PHASES}
    done = {p: asyncio.Event() for p in PHASES}
    clients = []

    def recorder(phase: str):  # type: ignore[no-untyped-def]
        async def on(_data: Any = None) -> None:
            received[phase].append(time.time())
            if len(received[phase]) == len(tokens):
                done[phase].set()

        return on

    for i in range(0, len(tokens), 50):  # connect in batches: a burst, not a stampede
        batch = []
        for token in tokens[i : i + 50]:
            c = socketio.AsyncClient(reconnection=False)
            for phase in PHASES:
                c.on(phase, recorder(phase))
            batch.append(
                c.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=60)
            )
            clients.append(c)
        await asyncio.gather(*batch)
    ready.put(len(clients))
    for phase in PHASES:
        try:
            await asyncio.wait_for(done[phase].wait(), 60)
        except TimeoutError:
            pass
        results.put((phase, received[phase]))
    await asyncio.to_thread(go.wait)
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


# --------------------------------------------------------------------------- the moderator


def percentiles(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(pick(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def collect(results: Any, phase: str, workers: int, start: float) -> list[float]:
    times: list[float] = []
    for _ in range(workers):
        got_phase, got = results.get(timeout=120)
        assert got_phase == phase, (got_phase, phase)
        times += got
    return [t - start for t in times]


async def moderate(
    url: str, token: str, results: Any, workers: int, clients: int
) -> dict[str, Any]:
    import socketio

    mod = socketio.AsyncClient(reconnection=False)
    await mod.connect(url, auth={"token": token}, transports=["websocket"])
    out: dict[str, Any] = {}
    try:
        start = time.time()
        opened = await mod.call(
            "breakout.open", {"grouping": {"strategy": "by_region"}}, timeout=60
        )
        out["open_ack_ms"] = round((time.time() - start) * 1000, 1)
        out["rooms"], out["assigned"] = len(opened["rooms"]), opened["assigned"]
        assigned = await asyncio.to_thread(collect, results, PHASES[0], workers, start)
        size = len(json.dumps({"round": opened["round"], "room": opened["rooms"][0]}))
        start = time.time()
        await mod.call("breakout.broadcast", {"text": "x" * min(500, size)}, timeout=60)
        baseline = await asyncio.to_thread(collect, results, PHASES[1], workers, start)
        start = time.time()
        await mod.call("breakout.close", timeout=60)
        closed = await asyncio.to_thread(collect, results, PHASES[2], workers, start)
    finally:
        await mod.disconnect()
    out.update(_figures(assigned, baseline, closed, clients, size))
    return out


def _figures(
    assigned: list[float], baseline: list[float], closed: list[float], clients: int, size: int
) -> dict[str, Any]:
    a, b, c = percentiles(assigned), percentiles(baseline), percentiles(closed)
    return {
        "clients": clients,
        "message_bytes": size,
        "assign_received": len(assigned),
        "assign": a,
        "baseline_received": len(baseline),
        "baseline_broadcast": b,
        "close_received": len(closed),
        "close": c,
        "ratio_assign_p99_to_baseline_p99": round(a["p99_ms"] / max(b["p99_ms"], 0.1), 2),
        "goal_p99_under_2s": a["p99_ms"] < 2000 and c["p99_ms"] < 2000,
    }


def room_media_capacity(subscribers: int, window: float) -> dict[str, Any] | None:
    """bench/room_media.py's measurement in a short form (one subscriber count per mode)."""
    if window <= 0:
        return None
    from bench.room_media import measure

    room = asyncio.run(measure(2, [subscribers], window))["room_media"]
    return {
        "resolution": room["resolution"],
        "publishers": room["publishers"],
        "subscribers": subscribers,
        "forward_cpu_pct_per_stream": room["forward_cpu_pct_per_stream"],
        "per_viewer_encode_cpu_pct_per_stream": room["relay_cpu_pct_per_stream"],
        "forward_streams_per_process": room["forward_streams_per_core"],
        "per_viewer_encode_streams_per_process": room["relay_streams_per_core"],
        "forward_room_size_per_process": room["forward_room_size_per_core"],
        "per_viewer_encode_room_size_per_process": room["relay_room_size_per_core"],
        "ratio_per_viewer_encode_to_forward": room["ratio"],
        "load_average_1m": room["load_average_1m"],
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test_breakout_bench"
        ),
    )
    ap.add_argument("--redis", action="store_true", help="use Redis (REDIS_URL or db 14)")
    ap.add_argument("--media-subscribers", type=int, default=3,
                    help="subscribers in the room media capacity run")
    ap.add_argument("--media-window", type=float, default=3.0,
                    help="seconds measured per room media mode (0: skip)")
    args = ap.parse_args()
    redis_url = (
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14") if args.redis else None
    )
    t = time.time()
    tokens, mod_token = asyncio.run(prepare(args.database, args.clients))
    print(f"registered {len(tokens)} participants in {time.time() - t:.1f} s", flush=True)
    from tests.conftest import free_port

    port = free_port()
    server = start_server(args.database, port, redis_url)
    url = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [tokens[i :: args.workers] for i in range(args.workers)]
    procs = [ctx.Process(target=worker, args=(url, share, ready, results, go)) for share in shares]
    try:
        t = time.time()
        for p in procs:
            p.start()
        connected = sum(ready.get(timeout=600) for _ in procs)
        print(
            f"connected {connected} clients in {time.time() - t:.1f} s "
            f"over {args.workers} worker processes",
            flush=True,
        )
        probe, used = Probe(server.pid, url), ClientCpu(p.pid for p in procs if p.pid)
        out = asyncio.run(moderate(url, mod_token, results, args.workers, args.clients))
        during, clients_cpu = probe.figures(), used.figures()
        print(f"during the round: {describe(during, clients_cpu)}", flush=True)
        out.update({"server_during": during, "clients_during": clients_cpu})
        out.update({"workers": args.workers, "redis": bool(redis_url)})
        print(
            f"assignment: {out['assign']}  baseline: {out['baseline_broadcast']}  "
            f"close: {out['close']}  ratio: {out['ratio_assign_p99_to_baseline_p99']}",
            flush=True,
        )
        go.set()
        for p in procs:
            p.join(60)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        server.terminate()
        server.wait(20)
    t = time.time()
    out["room_media_capacity"] = capacity = room_media_capacity(
        args.media_subscribers, args.media_window
    )
    if capacity:
        print(
            f"room media: forward {capacity['forward_cpu_pct_per_stream']} % of a core per "
            f"stream, {capacity['forward_streams_per_process']} streams per media process "
            f"(a room of {capacity['forward_room_size_per_process']}); per-viewer encode "
            f"{capacity['per_viewer_encode_cpu_pct_per_stream']} %, "
            f"{capacity['per_viewer_encode_streams_per_process']} streams (a room of "
            f"{capacity['per_viewer_encode_room_size_per_process']}); ratio "
            f"{capacity['ratio_per_viewer_encode_to_forward']}x ({time.time() - t:.0f} s)",
            flush=True,
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
