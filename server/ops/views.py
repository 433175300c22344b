"""Operations: health and metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from quart import Blueprint, Response

from server.platform.errors import log_unexpected
from server.platform.web import platform, require_staff_or_token

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
async def healthz() -> tuple[dict[str, Any], int]:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    p = platform()
    checks = {"database": await _check("database", p.db.ping)}
    checks["redis"] = await _check("redis", p.store.ping) if p.settings.redis_url else "not used"
    healthy = all(v in (True, "not used") for v in checks.values())
    body: dict[str, Any] = {"ok": healthy, "node": p.settings.node_id, "checks": checks}
    if p.media.enabled:  # a forwarding process down is less capacity, not an unhealthy node
        body["media_processes"] = p.media.processes()
    return body, 200 if healthy else 503


async def _check(name: str, probe: Any) -> bool | str:
    try:
        return bool(await probe())
    except Exception as exc:  # a health check reports failures, it must not raise
        log_unexpected(f"healthz {name}", exc)
        return f"error: {type(exc).__name__}"


@ops.get("/metrics")
async def metrics() -> Response:
    """Prometheus text, for staff and for a scraper with METRICS_TOKEN."""
    await require_staff_or_token(platform().settings.metrics_token)
    body = generate_latest(platform().metrics.registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
