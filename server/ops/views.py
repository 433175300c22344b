"""Operations: liveness, readiness and metrics (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from quart import Blueprint, Response

from server.platform import observe
from server.platform.web import platform, require_staff_or_token

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
async def healthz() -> tuple[dict[str, Any], int]:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    return await _health(serving=False)


@ops.get("/readyz")
async def readyz() -> tuple[dict[str, Any], int]:
    """Readiness: 200 when this node should get traffic: started and not stopping, and the
    database (and Redis, when configured) answer; 503 otherwise, so a load balancer or compose
    sends nothing new to a node that is starting, draining, or cut off from its data."""
    return await _health(serving=True)


async def _health(*, serving: bool) -> tuple[dict[str, Any], int]:
    p = platform()
    checks: dict[str, Any] = {**await observe.probe(p)}
    if not p.settings.redis_url:
        checks["redis"] = "not used"
    if serving:
        checks["serving"] = p.lifecycle.serving
    ready = all(v in (True, "not used") for v in checks.values())
    body: dict[str, Any] = {"ok": ready, "node": p.settings.node_id, "checks": checks}
    if p.media.enabled:  # a forwarding process down is less capacity, not an unhealthy node
        body["media_processes"] = p.media.processes()
    return body, 200 if ready else 503


@ops.get("/livez")
async def livez() -> dict[str, Any]:
    """Liveness: the process answers (its event loop runs). Nothing else: a node whose database
    is down is not ready, but restarting it would not help."""
    return {"ok": True, "node": platform().settings.node_id}


@ops.get("/metrics")
async def metrics() -> Response:
    """Prometheus text, for staff and for a scraper with METRICS_TOKEN."""
    await require_staff_or_token(platform().settings.metrics_token)
    await observe.probe(platform())  # traffpunkt_dependency_up as of this scrape
    body = generate_latest(platform().metrics.registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
