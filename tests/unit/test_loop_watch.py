"""The loop watch: an operator sees the event loop held up, GC pauses, and what held it."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from server.platform.node import Metrics
from server.platform.runtime import LoopWatch


async def test_a_blocked_loop_shows_as_lag() -> None:
    lags: list[float] = []
    watch = LoopWatch(lags.append, interval=0.01)
    await watch.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # a handler that holds the loop (the thing the watch exists to see)
        await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    assert max(lags) >= 0.15
    assert sorted(lags)[len(lags) // 2] < 0.05, "an idle loop is not reported as late"


async def test_collector_pauses_are_timed_by_generation() -> None:
    pauses: list[tuple[int, float]] = []
    watch = LoopWatch(lambda _: None, lambda gen, s: pauses.append((gen, s)))
    await watch.start()
    try:
        gc.collect()
    finally:
        await watch.stop()
    assert any(gen == 2 and seconds >= 0 for gen, seconds in pauses)
    n = len(pauses)
    gc.collect()
    assert len(pauses) == n, "a stopped watch no longer listens"


async def test_a_stall_logs_the_stack_that_held_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(lambda _: None, interval=0.01, stall_log=0.1)
    caplog.set_level(logging.WARNING, logger="server.platform.runtime")
    await watch.start()
    try:
        await asyncio.sleep(0.05)
        held_here()
        await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    stalls = [r.getMessage() for r in caplog.records if "event loop held" in r.getMessage()]
    assert len(stalls) == 1, "one stack per stall"
    assert "held_here" in stalls[0]


def held_here() -> None:
    time.sleep(0.4)


async def test_the_histograms_reach_metrics() -> None:
    from prometheus_client import generate_latest

    metrics = Metrics()
    watch = metrics.loop_watch()
    await watch.start()
    try:
        await asyncio.sleep(0.12)
        gc.collect()
    finally:
        await watch.stop()
    text = generate_latest(metrics.registry).decode()
    assert "traffpunkt_event_loop_lag_seconds_count" in text
    assert 'traffpunkt_gc_pause_seconds_count{generation="2"}' in text
