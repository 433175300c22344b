"""Helpers shared by the benchmark scripts (bench/*.py).

- `Server`: one `traffpunkt serve` process for a bench, its log in a file, its /metrics readable.
- `Probe`: what a server did during a measured window: CPU share, RSS, the event loop's lag and
  its garbage-collector pauses (from the node's own histograms, server/platform/runtime.py).
- `ClientCpu`: the CPU share the bench's own clients took, so a figure limited by the clients
  (they share the machine's cores with the server) is seen as such.
- `profiled`: with BENCH_PROFILE=<folder> set, a py-spy profile of the server process during the
  measured window (py-spy's raw collapsed stacks, one file per window).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
METRICS_TOKEN = "bench-metrics-token"
LAG = "traffpunkt_event_loop_lag_seconds"
GC = "traffpunkt_gc_pause_seconds"
HANDLER = "traffpunkt_socket_handler_seconds"


async def ensure_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database on a machine that has never run it."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    wanted = make_url(url)
    admin = create_async_engine(wanted.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": wanted.database})
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{wanted.database}"'))
    finally:
        await admin.dispose()


async def fresh_database(url: str) -> None:
    """An empty PostgreSQL database for a bench (created when missing, its schema emptied);
    a SQLite URL names a new file and needs nothing."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    await ensure_database(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60,
              why: Callable[[], str] = lambda: "") -> None:
    """Until `proc` listens on `port`; an error (with `why()`) if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{why()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start:\n{why()}")


class Server:
    """`traffpunkt serve` on a free port with the bench's settings; use as a context manager."""

    def __init__(self, database_url: str, secret: str, *, env: dict[str, str] | None = None,
                 args: Iterable[str] = (), redis_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="bench-server-")
        self.log = Path(self.tmp) / "server.log"  # a file, never an unread pipe that fills
        self.env = {**os.environ, "TRAFFPUNKT_ENV": "test", "DATABASE_URL": database_url,
                    "SECRET_KEY": secret,
                    "MEDIA_ROOT": f"{self.tmp}/media", "PUBLIC_URL": self.url,
                    "METRICS_TOKEN": METRICS_TOKEN, **(env or {})}
        self.env.pop("REDIS_URL", None)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Server:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port),
                 *self.args], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, timeout, self.tail)
        return self

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            print(self.tail(), file=sys.stderr)
        self.stop()

    def probe(self) -> Probe:
        return Probe(self.pid, self.url)


# --------------------------------------------------------------------------- what the server did


def read_metrics(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The node's /metrics as {sample name: {labels: value}}."""
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(f"{url}/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        text = answer.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@dataclass
class Histogram:
    """One histogram's change between two scrapes: cumulative bucket counts by upper bound."""

    buckets: dict[float, float]
    count: float
    total: float

    @classmethod
    def between(cls, before: dict[str, Any], after: dict[str, Any], name: str,
                keep: dict[str, str] | None = None) -> Histogram:
        def pick(scrape: dict[str, Any], sample: str) -> dict[tuple[tuple[str, str], ...], float]:
            rows = scrape.get(sample, {})
            return {k: v for k, v in rows.items()
                    if all(dict(k).get(a) == b for a, b in (keep or {}).items())}

        buckets: dict[float, float] = {}
        for labels, value in pick(after, f"{name}_bucket").items():
            le = float(dict(labels)["le"])
            buckets[le] = buckets.get(le, 0.0) + value - pick(before, f"{name}_bucket").get(
                labels, 0.0)
        count = sum(pick(after, f"{name}_count").values()) - sum(
            pick(before, f"{name}_count").values())
        total = sum(pick(after, f"{name}_sum").values()) - sum(
            pick(before, f"{name}_sum").values())
        return cls(dict(sorted(buckets.items())), count, total)

    def quantile_le(self, q: float) -> float:
        """The smallest bucket bound that holds the q-quantile (an upper bound, in seconds)."""
        for le, cumulative in self.buckets.items():
            if self.count and cumulative >= q * self.count:
                return le
        return 0.0

    def max_le(self) -> float:
        """The bound of the highest bucket that gained anything: the largest value is below it."""
        for le, cumulative in self.buckets.items():
            if cumulative >= self.count:
                return le
        return float("inf")


def _ms(seconds: float) -> float | str:
    return "inf" if seconds == float("inf") else round(seconds * 1000, 1)


@dataclass
class Probe:
    """Start it where the measured window starts; `figures()` where it ends."""

    pid: int
    url: str | None  # None: a server with no /metrics (a bare baseline): CPU and RSS only
    started: float = field(default_factory=time.monotonic)
    cpu0: float = 0.0
    scrape0: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.scrape0 = read_metrics(self.url) if self.url else {}
        self.cpu0 = self._cpu()
        self.started = time.monotonic()

    def _cpu(self) -> float:
        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system

    def figures(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        out: dict[str, Any] = {
            "server_cpu_share_of_core": round((self._cpu() - self.cpu0) / wall, 2),
            "server_rss_mb": round(psutil.Process(self.pid).memory_info().rss / 2**20, 1),
        }
        if not self.url:
            return out
        scrape = read_metrics(self.url)
        lag = Histogram.between(self.scrape0, scrape, LAG)
        gcs = Histogram.between(self.scrape0, scrape, GC)
        handlers = {}
        for labels in scrape.get(f"{HANDLER}_count", {}):
            event = dict(labels)["event"]
            h = Histogram.between(self.scrape0, scrape, HANDLER, {"event": event})
            if h.count:
                handlers[event] = {"count": int(h.count), "p99_under_ms": _ms(h.quantile_le(0.99)),
                                   "mean_ms": _ms(h.total / h.count)}
        full = Histogram.between(self.scrape0, scrape, GC, {"generation": "2"})
        return {
            **out,
            "loop_lag_ms": {"mean": _ms(lag.total / lag.count) if lag.count else None,
                            "p99_under": _ms(lag.quantile_le(0.99)),
                            "max_under": _ms(lag.max_le()), "samples": int(lag.count)},
            "gc_pauses": {"count": int(gcs.count), "total_ms": _ms(gcs.total),
                          "max_under_ms": _ms(gcs.max_le()) if gcs.count else 0,
                          "full": int(full.count)},
            "socket_handlers": handlers,
        }


class ClientCpu:
    """CPU the bench's client processes took over a window, as a share of the whole machine."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.restart()

    def restart(self) -> None:
        self.cpu0, self.started = self._cpu(), time.monotonic()

    def _cpu(self) -> float:
        total = 0.0
        for p in self.procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def figures(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        cores = os.cpu_count() or 1
        used = (self._cpu() - self.cpu0) / wall
        return {"clients_cpu_share_of_machine": round(used / cores, 2),
                "clients_cores_used": round(used, 2), "cores": cores}


def limited_by_clients(server: dict[str, Any], clients: dict[str, Any]) -> bool:
    """True when server and clients together kept every core busy: the clients may be the limit."""
    busy = server["server_cpu_share_of_core"] + clients["clients_cores_used"]
    return bool(busy >= 0.95 * clients["cores"])


def describe(server: dict[str, Any], clients: dict[str, Any] | None = None) -> str:
    """One line for a person: server CPU and loop lag, and the clients' share."""
    line = f"server {server['server_cpu_share_of_core']} of a core"
    if "loop_lag_ms" in server:
        lag, gcs = server["loop_lag_ms"], server["gc_pauses"]
        line += (f", loop lag mean {lag['mean']} ms, p99 < {lag['p99_under']} ms, "
                 f"max < {lag['max_under']} ms; GC {gcs['count']} pauses "
                 f"({gcs['full']} full) {gcs['total_ms']} ms in all")
    if clients is not None:
        line += (f"; clients {clients['clients_cores_used']} of {clients['cores']} cores"
                 + (" (cores saturated: the clients may be the limit)"
                    if limited_by_clients(server, clients) else ""))
    return line


@contextlib.contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """py-spy on `pid` while the block runs, when BENCH_PROFILE names a folder; else nothing."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / f"{name}.raw"
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                            str(pid), "--rate", "200", "--format", "raw", "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(30)
        print(f"profile of {name}: {out}", file=sys.stderr)


def quiet_client_gc() -> None:
    """Call first in every client worker process: its collector then stays off the clock.

    A worker forked from a bench's main process inherits all it built (SQLAlchemy, a thousand
    tokens), and with CPython's default thresholds a full collection of a worker holding 250
    connections held its loop for 250 ms (seen with a stall watchdog in bench/qa_fanout.py's
    workers, a SQLAlchemy weakref callback on the stack): every message arriving meanwhile was
    counted as the server's latency. The same policy as the server's (runtime.tune_gc).
    """
    from server.platform.runtime import tune_gc

    tune_gc()
