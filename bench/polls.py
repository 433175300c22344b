"""A live poll answered by a whole event at once: 1,000 participants vote in the same second.

A real `traffpunkt serve` process on PostgreSQL with 1,000 registrations (bench/breakout.py's
set-up: the server's own registration code and socket tokens), python-socketio clients split
over worker processes apart from the server. A moderator opens a poll and every participant
votes at once. Reported:
  - the vote's acknowledgement time (p50, p99: the vote is stored when it is acked);
  - the time from the start of the burst until each participant has seen the results with every
    vote counted (p50, p99, max), and how many `polls.results` broadcasts each one received
    (the server coalesces them: server/polls/sockets.py);
  - the server's CPU seconds for the burst.
Baseline, same run, same clients and server: one broadcast to the whole event (the moderator
opens a second poll: one `polls.state` to everyone); ratio = p99 until the final results / p99
of that one broadcast.

    .venv/bin/python bench/polls.py [--clients 1000] [--workers 3]

Goal: every participant sees the final count within 2 s (p99) of a burst of 1,000 votes.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import ClientCpu, Probe, describe  # noqa: E402
from bench.breakout import percentiles, prepare, start_server  # noqa: E402

OPTIONS = ["Antagen", "Under arbete", "Inte påbörjad"]


def worker(url: str, tokens: list[str], expected: int, shared: Any, queues: Any) -> None:
    from bench._common import quiet_client_gc

    quiet_client_gc()
    asyncio.run(_worker(url, tokens, expected, shared, queues))


async def _worker(url: str, tokens: list[str], expected: int, shared: Any, queues: Any) -> None:
    import socketio

    ready, results, vote_go, leave = queues
    poll_id, baseline_id = shared
    final_at: dict[int, float] = {}
    state_at: dict[int, float] = {}
    broadcasts = [0] * len(tokens)
    all_final, all_state = asyncio.Event(), asyncio.Event()
    clients = []

    def handlers(index: int, client: Any) -> None:
        async def on_results(data: dict[str, Any]) -> None:
            if data["id"] != poll_id.value:
                return
            broadcasts[index] += 1
            if data["total"] >= expected and index not in final_at:
                final_at[index] = time.time()
                if len(final_at) == len(tokens):
                    all_final.set()

        async def on_state(data: dict[str, Any]) -> None:
            if data["id"] == baseline_id.value and index not in state_at:
                state_at[index] = time.time()
                if len(state_at) == len(tokens):
                    all_state.set()

        client.on("polls.results", on_results)
        client.on("polls.state", on_state)

    for i in range(0, len(tokens), 50):  # connect in batches: a burst, not a stampede
        batch = []
        for index, token in enumerate(tokens[i : i + 50], start=i):
            c = socketio.AsyncClient(reconnection=False)
            handlers(index, c)
            batch.append(
                c.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=60))
            clients.append(c)
        await asyncio.gather(*batch)
    ready.put(len(clients))
    await asyncio.to_thread(vote_go.wait)

    async def vote(index: int, client: Any) -> float:
        sent = time.time()
        ack = await client.call(
            "polls.vote", {"poll_id": poll_id.value, "option": index % len(OPTIONS)}, timeout=60)
        assert ack.get("ok"), ack
        return time.time() - sent

    acks = await asyncio.gather(*(vote(i, c) for i, c in enumerate(clients)))
    try:
        await asyncio.wait_for(all_final.wait(), 60)
    except TimeoutError:
        pass
    results.put(("final", list(final_at.values()), list(acks), broadcasts))
    try:
        await asyncio.wait_for(all_state.wait(), 60)
    except TimeoutError:
        pass
    results.put(("state", list(state_at.values()), [], []))
    await asyncio.to_thread(leave.wait)
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


async def moderate(url: str, token: str, server_pid: int, workers: int, shared: Any,
                   queues: Any) -> dict[str, Any]:
    import socketio

    _, results, vote_go, _ = queues
    poll_id, baseline_id = shared
    server = psutil.Process(server_pid)
    mod = socketio.AsyncClient(reconnection=False)
    await mod.connect(url, auth={"token": token}, transports=["websocket"])
    try:
        made = await mod.call("polls.create", {
            "question": "Hur långt har er region kommit med biblioteksplanen?",
            "options": OPTIONS}, timeout=60)
        await mod.call("polls.open", {"poll_id": made["poll"]["id"]}, timeout=60)
        poll_id.value = made["poll"]["id"]
        await asyncio.sleep(1.0)
        cpu = sum(server.cpu_times()[:2])
        start = time.time()
        vote_go.set()
        finals, acks, broadcasts = [], [], []
        for _ in range(workers):
            phase, got, ack, counted = await asyncio.to_thread(results.get, True, 180)
            assert phase == "final", phase
            finals += [t - start for t in got]
            acks += ack
            broadcasts += counted
        cpu = sum(server.cpu_times()[:2]) - cpu
        other = await mod.call("polls.create", {"question": "Kaffe?", "options": ["Ja", "Nej"]},
                               timeout=60)
        baseline_id.value = other["poll"]["id"]
        start = time.time()
        await mod.call("polls.open", {"poll_id": other["poll"]["id"]}, timeout=60)
        baseline = []
        for _ in range(workers):
            phase, got, _, _ = await asyncio.to_thread(results.get, True, 120)
            assert phase == "state", phase
            baseline += [t - start for t in got]
    finally:
        await mod.disconnect()
    final, one = percentiles(finals), percentiles(baseline)
    return {
        "votes": len(acks),
        "vote_ack": percentiles(acks),
        "saw_final_count": len(finals),
        "final_results": final,
        "results_broadcasts_per_client": {
            "mean": round(statistics.mean(broadcasts), 1) if broadcasts else None,
            "max": max(broadcasts) if broadcasts else None,
        },
        "server_cpu_s_for_burst": round(cpu, 2),
        "baseline_one_broadcast": one,
        "baseline_received": len(baseline),
        "ratio_final_p99_to_broadcast_p99": round(final["p99_ms"] / max(one["p99_ms"], 0.1), 2),
        "goal_p99_under_2s": final["p99_ms"] < 2000 and len(finals) == len(acks),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--database", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test_polls_bench"))
    args = ap.parse_args()
    t = time.time()
    tokens, mod_token = asyncio.run(prepare(args.database, args.clients))
    print(f"registered {len(tokens)} participants in {time.time() - t:.1f} s", flush=True)
    from tests.conftest import free_port

    port = free_port()
    server = start_server(args.database, port, None)
    url = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    queues = (ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event())
    shared = (ctx.Value("i", 0), ctx.Value("i", 0))
    shares = [tokens[i :: args.workers] for i in range(args.workers)]
    procs = [ctx.Process(target=worker, args=(url, share, len(tokens), shared, queues))
             for share in shares]
    try:
        t = time.time()
        for p in procs:
            p.start()
        connected = sum(queues[0].get(timeout=600) for _ in procs)
        print(f"connected {connected} clients in {time.time() - t:.1f} s "
              f"over {args.workers} worker processes", flush=True)
        probe, used = Probe(server.pid, url), ClientCpu(p.pid for p in procs if p.pid)
        out = asyncio.run(moderate(url, mod_token, server.pid, args.workers, shared, queues))
        during, clients_cpu = probe.figures(), used.figures()
        print(f"during the polls: {describe(during, clients_cpu)}", flush=True)
        out.update({"server_during": during, "clients_during": clients_cpu})
        out.update({"clients": args.clients, "workers": args.workers})
        print(f"vote ack: {out['vote_ack']}  final results seen: {out['final_results']}  "
              f"one broadcast: {out['baseline_one_broadcast']}  "
              f"ratio: {out['ratio_final_p99_to_broadcast_p99']}  "
              f"broadcasts per client: {out['results_broadcasts_per_client']}", flush=True)
        queues[3].set()
        for p in procs:
            p.join(60)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        server.terminate()
        server.wait(20)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
