"""Process-wide tuning of a serving node: the cyclic garbage collector.

With CPython's default thresholds (700, 10, 10) a node fanning socket.io messages out to a
thousand connections runs a full collection every few seconds, and a full collection walks every
live object (each connection's engine.io socket, its queue, its websocket) while the event loop
stands still: 100-250 ms with 1,000 connections, which is the whole p99 of a broadcast.
Measured with bench/qa_fanout.py on a bare python-socketio server (same run, same clients):
p99 323 ms with the defaults, 120 ms with this policy; throughput 6.7k -> 9.5k messages/s.

`freeze()` moves everything built at start-up (the app, templates, ORM mappers, imported
modules) out of the collector's sight for good; the higher thresholds make young collections
rarer and full ones much rarer. Reference cycles are still collected, only less often.
The benchmark's bare baseline applies the same policy, so ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Call once the app is built, just before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


# Buckets of the loop-lag and GC-pause histograms, in seconds: fine where a stall starts to be
# felt (a keystroke or a question arriving late) and coarse beyond.
PAUSE_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)
LAG_INTERVAL = 0.05


class LoopWatch:
    """How late the event loop runs what is due, and how long the collector stops it.

    A task asks to wake every `interval` seconds; how much later than asked it wakes is the
    loop's lag: every callback, handler and collection that held the loop in between shows up
    in it. Garbage-collector pauses are timed by `gc.callbacks` (per generation). Both go to
    histograms (`observe_lag(seconds)`, `observe_gc(generation, seconds)`): Prometheus series on
    a node, plain lists in a bench.

    With `stall_log` set (seconds), a watchdog thread logs the main thread's stack whenever the
    loop has not ticked for that long: the one way to see *what* held it, in production too.
    """

    def __init__(self, observe_lag: Callable[[float], None],
                 observe_gc: Callable[[int, float], None] | None = None, *,
                 interval: float = LAG_INTERVAL, stall_log: float = 0.0) -> None:
        self.observe_lag, self.observe_gc = observe_lag, observe_gc
        self.interval, self.stall_log = interval, stall_log
        self._task: asyncio.Task[None] | None = None
        self._gc_started = 0.0
        self._tick = time.monotonic()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    async def start(self) -> None:
        self._tick = time.monotonic()  # built with the app, started when serving starts
        self._task = asyncio.create_task(self._run(), name="loop-watch")
        if self.observe_gc is not None:
            gc.callbacks.append(self._on_gc)
        if self.stall_log > 0:
            self._stop.clear()
            main = threading.get_ident()
            self._thread = threading.Thread(target=self._watchdog, args=(main,), daemon=True,
                                            name="loop-stall-watchdog")
            self._thread.start()

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self.interval)
            self._tick = now = time.monotonic()
            self.observe_lag(max(0.0, now - asked - self.interval))

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.observe_gc is not None and self._gc_started:
            self.observe_gc(info["generation"], time.perf_counter() - self._gc_started)

    def _watchdog(self, main: int) -> None:
        logged = 0.0  # the tick a stall was logged for: one stack per stall
        while not self._stop.wait(self.stall_log / 2):
            late = time.monotonic() - self._tick - self.interval
            if late < self.stall_log or logged == self._tick:
                continue
            frame = sys._current_frames().get(main)
            if frame is not None:
                logged = self._tick
                stack = "".join(traceback.format_stack(frame, limit=25))
                log.warning("event loop held for %.0f ms so far, at:\n%s", late * 1000, stack)
