"""The services one running node owns, built once by the composition root (server/app.py).

`Platform` holds what every feature shares (settings, database, tokens, store, socket server,
metrics, media engine, domain events, lifecycle). A feature's own services are built by its
`install` (server/<feature>/feature.py), eagerly, and provided under a typed `Key` that the
feature's package declares: `platform.need(notes.REGISTRY)` is a `NotesRegistry` to mypy, and
a key nobody provided fails at start-up (`Lifecycle.start` checks the declared needs), never
halfway through a request.

Why keys and not attributes of one class: Quart blueprints and socket routers are module
objects shared by every app in a process (the tests build many), so a handler finds its own
node's service through the app; and `platform` must not import the features it serves.
aiohttp's `AppKey` is the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import socketio
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from server.platform.auth import Tokens
from server.platform.db import Database
from server.platform.errors import log_unexpected
from server.platform.events import DomainEvents
from server.platform.media import MediaService
from server.platform.runtime import PAUSE_BUCKETS, LoopWatch
from server.platform.settings import Settings
from server.platform.store import Store

T = TypeVar("T")
Step = Callable[[], Awaitable[Any]]


class Key(Generic[T]):
    """A typed name for one service of a feature (declared by the feature that owns it)."""

    def __init__(self, name: str, kind: type[T] | None = None) -> None:
        """`kind`, where it is a class, is checked when the service is provided; for a
        Protocol, annotate instead: `PRESENCE: Key[RoomPresence] = Key("breakout.presence")`."""
        self.name = name
        self.kind = kind

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


@dataclass
class Lifecycle:
    """Start and stop steps in a declared order: started first, stopped last."""

    steps: list[tuple[str, Step | None, Step | None]] = field(default_factory=list)
    serving: bool = False  # every step started, and stopping has not begun (readiness)

    def add(self, name: str, start: Step | None = None, stop: Step | None = None) -> None:
        self.steps.append((name, start, stop))

    async def start(self) -> None:
        for _, start, _stop in self.steps:
            if start is not None:
                await start()
        self.serving = True

    async def stop(self) -> None:
        self.serving = False
        for name, _start, stop in reversed(self.steps):
            if stop is None:
                continue
            try:
                await stop()
            except Exception as exc:  # one service failing to stop must not keep others up
                log_unexpected(f"stop {name}", exc)

    def names(self) -> list[str]:
        return [name for name, _, _ in self.steps]


Source = Callable[[], Iterable[Metric]]
"""Figures read when /metrics is scraped (pool sizes, viewers, rooms): nothing on a hot path."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Sources(Collector):
    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            try:
                yield from source()
            except Exception as exc:  # one source failing must not fail the scrape
                log_unexpected("metrics source", exc)


@dataclass
class Metrics:
    """Prometheus metrics of this node, in a registry of its own (no process globals). The
    process's own (CPU, memory, open files, GC) are the client library's collectors; features
    add what they read at scrape time with `add_source`."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    sources: list[Source] = field(default_factory=list)

    def add_source(self, source: Source) -> None:
        self.sources.append(source)

    def __post_init__(self) -> None:
        r = self.registry
        own = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, _Sources(self.sources))
        for collector in own:
            r.register(collector)
        self.http_requests = Counter(
            "traffpunkt_http_requests", "HTTP requests", ["method", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "traffpunkt_http_request_seconds",
            "Time to answer an HTTP request, by route (its rule, so the labels stay few)",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.socket_connections = Gauge(
            "traffpunkt_socket_connections", "Open socket.io connections", registry=r
        )
        self.socket_clients = Gauge(
            "traffpunkt_socket_clients", "Open socket.io connections per event (its id)",
            ["event"], registry=r,
        )
        self.dependency_up = Gauge(
            "traffpunkt_dependency_up",
            "Whether a dependency answered when /metrics was last scraped (1) or not (0)",
            ["dependency"], registry=r,
        )
        self.socket_events = Counter(
            "traffpunkt_socket_events", "Socket events handled", ["event", "outcome"], registry=r
        )
        self.socket_refused = Counter(
            "traffpunkt_socket_refused", "Refused socket connections", ["code"], registry=r
        )
        self.socket_handler_seconds = Histogram(
            "traffpunkt_socket_handler_seconds",
            "Time from a socket event's arrival in its handler to its answer", ["event"],
            buckets=PAUSE_BUCKETS, registry=r,
        )
        self.loop_lag = Histogram(
            "traffpunkt_event_loop_lag_seconds",
            "How much later than due the event loop ran a timer (server/platform/runtime.py)",
            buckets=PAUSE_BUCKETS, registry=r,
        )
        self.gc_pause = Histogram(
            "traffpunkt_gc_pause_seconds", "Garbage-collector pauses, by generation",
            ["generation"], buckets=PAUSE_BUCKETS, registry=r,
        )

    def loop_watch(self, stall_log: float = 0.0) -> LoopWatch:
        """A LoopWatch that feeds this node's histograms."""
        return LoopWatch(self.loop_lag.observe,
                         lambda gen, seconds: self.gc_pause.labels(str(gen)).observe(seconds),
                         stall_log=stall_log)


@dataclass
class Platform:
    settings: Settings
    db: Database
    tokens: Tokens
    store: Store
    sio: socketio.AsyncServer
    metrics: Metrics
    media: MediaService
    events: DomainEvents = field(default_factory=DomainEvents)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    _services: dict[Key[Any], Any] = field(default_factory=dict)

    def provide(self, key: Key[T], service: T, *, replace: bool = False) -> T:
        """`replace=True` swaps a provided service (tests that stand in a port)."""
        if key in self._services and not replace:
            raise RuntimeError(f"{key} is provided twice")
        if key.kind is not None and not isinstance(service, key.kind):
            raise TypeError(f"{key} given a {type(service).__name__}")
        self._services[key] = service
        return service

    def need(self, key: Key[T]) -> T:
        try:
            service: T = self._services[key]
        except KeyError:
            raise RuntimeError(f"{key} was never provided: is its feature installed?") from None
        return service

    def has(self, key: Key[Any]) -> bool:
        return key in self._services
