"""What /metrics reads of the platform when it is scraped: the database pool, the media engine
(publishers, viewers per transport, how late its loop runs), and the dependencies' health.
Read at scrape time (`Metrics.add_source`), so serving pays nothing for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.pool import QueuePool

from server.platform.db import Database
from server.platform.media import MediaService
from server.platform.node import Platform

PROBE_TIMEOUT = 2.0  # a dependency slower than this to answer counts as down
log = logging.getLogger("traffpunkt.probe")


def database_pool(db: Database) -> Iterator[Metric]:
    pool = db.engine.sync_engine.pool
    size = GaugeMetricFamily("traffpunkt_db_pool_connections",
                             "Database pool connections by state (PostgreSQL's pool)",
                             labels=["state"])
    if isinstance(pool, QueuePool):
        size.add_metric(["in_use"], pool.checkedout())
        size.add_metric(["idle"], pool.checkedin())
        size.add_metric(["overflow"], max(0, pool.overflow()))
        size.add_metric(["capacity"], pool.size() + getattr(pool, "_max_overflow", 0))
    yield size


def media(service: MediaService) -> Iterator[Metric]:
    """The media engine of this process (nothing on a web node: its media runs elsewhere)."""
    stages = service.engine.stages if service.enabled else []
    publishers = GaugeMetricFamily("traffpunkt_media_publishers",
                                   "Stages with a publisher connected and sending")
    publishers.add_metric([], sum(1 for s in stages if s.live))
    yield publishers
    viewers = GaugeMetricFamily("traffpunkt_media_viewers", "Stage viewers by transport",
                                labels=["transport"])
    viewers.add_metric(["webrtc"], sum(s.webrtc_viewer_count for s in stages))
    viewers.add_metric(["webrtc_local"], sum(s.local_viewer_count for s in stages))
    viewers.add_metric(["hls"], sum(s.hls_viewer_count for s in stages))
    yield viewers
    late = GaugeMetricFamily(
        "traffpunkt_media_late_share",
        "Share of the media loop's wake-ups of the last seconds that came late: above 0.1 frames "
        "reach viewers late and new viewers are sent to HLS")
    late.add_metric([], service.engine.loop_lag.late_share() if service.enabled else 0.0)
    yield late
    processes = GaugeMetricFamily("traffpunkt_media_processes",
                                  "Media processes of this node", labels=["state"])
    for state, count in service.processes().items():
        processes.add_metric([state], count)
    yield processes


async def probe(platform: Platform) -> dict[str, bool | str]:
    """Whether the database and Redis answer now (each within PROBE_TIMEOUT); sets
    `traffpunkt_dependency_up`."""
    checks: dict[str, bool | str] = {"database": await _answers("database", platform.db.ping)}
    if platform.settings.redis_url:
        checks["redis"] = await _answers("redis", platform.store.ping)
    for name, ok in checks.items():
        platform.metrics.dependency_up.labels(name).set(1 if ok is True else 0)
    return checks


async def _answers(name: str, ping) -> bool | str:  # type: ignore[no-untyped-def]
    try:
        return bool(await asyncio.wait_for(ping(), PROBE_TIMEOUT))
    except TimeoutError:
        return "error: timeout"
    except Exception as exc:  # a health check reports failures, it must not raise
        log.warning("%s did not answer: %s", name, exc)  # expected while it is down
        return f"error: {type(exc).__name__}"


def install(platform: Platform) -> None:
    platform.metrics.add_source(lambda: database_pool(platform.db))
    platform.metrics.add_source(lambda: media(platform.media))
