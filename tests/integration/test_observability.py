"""What whoever runs the day sees (issue 25 point 5): log lines with the node and the request
or socket event they belong to (JSON in production), request ids from nginx kept or made, the
day's metrics in /metrics (request and socket-event latency, clients per event, media, rooms,
database pool, dependencies, the process), readiness apart from liveness, and a Grafana
dashboard whose every query reads a metric the platform exports."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.platform import logs
from server.platform.auth import Principal
from server.platform.node import Metrics
from server.platform.sockets import Route, _wrap
from tests.conftest import LiveServer, make_settings, seed, server_env
from tests.dashboard import missing
from tests.helpers import Browser

TOKEN = "skrapa-dagen-123"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(logs.Context("nod-1"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_requests_log_lines_carry_its_id(clean_db, tmp_path: Path) -> None:
    """nginx's id is kept (and said back); a hostile or missing one is replaced by our own."""
    asgi = create_app(make_settings(clean_db, tmp_path, "redis://127.0.0.1:1/0"))
    client = asgi.quart.test_client()
    captured = Records()
    probe_log = logging.getLogger("traffpunkt.probe")
    probe_log.addHandler(captured)
    try:
        response = await client.get("/readyz", headers={"X-Request-ID": "nginx-0123456789abcdef"})
    finally:
        probe_log.removeHandler(captured)
    assert response.status_code == 503  # Redis does not answer: not ready
    assert response.headers["X-Request-ID"] == "nginx-0123456789abcdef"
    line = next(r for r in captured.records if "redis did not answer" in r.getMessage())
    assert (line.request_id, line.node) == ("nginx-0123456789abcdef", "nod-1")  # type: ignore[attr-defined]
    for hostile in ("x" * 100, "a b c d e f g h", "kort"):
        got = (await client.get("/livez", headers={"X-Request-ID": hostile})).headers
        assert got["X-Request-ID"] != hostile and len(got["X-Request-ID"]) == 16
    assert (await client.get("/livez")).status_code == 200  # alive, though not ready


async def test_a_socket_events_log_lines_carry_its_id() -> None:
    seen: list[str] = []

    async def handler(ctx: Any, data: Any) -> dict[str, Any]:
        seen.append(logs.socket_event.get())
        return {}

    async def get_session(sid: str) -> dict[str, Any]:
        return {"principal": Principal("participant", 1, "Anna", "participant", event_id=1),
                "event_id": 1}

    platform = SimpleNamespace(metrics=Metrics(), sio=SimpleNamespace(get_session=get_session))
    handle = _wrap(platform, Route("qa.ask", handler, None, False))  # type: ignore[arg-type]
    assert (await handle("sid-abcdefgh-1", None))["ok"] is True
    assert (await handle("sid-abcdefgh-1", None))["ok"] is True
    first, second = seen
    assert first.startswith("qa.ask:sid-abcd:") and second != first
    assert logs.socket_event.get() == ""  # each handler's own, not the caller's


@pytest.fixture
def node(clean_db: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**server_env(clean_db, tmp_path / "media"), "LOG_FORMAT": "json",
           "METRICS_TOKEN": TOKEN, "NODE_ID": "webb-1"}
    server = LiveServer(env).start()
    yield server
    server.stop()


async def test_a_live_node_logs_json_and_exports_the_days_metrics(node, clean_db) -> None:
    await seed(clean_db)
    anna = Browser(node.url)
    try:
        assert (await anna.register(email="anna@example.se")).status_code == 200
        socket = await anna.connect()
        ready = httpx.get(f"{node.url}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["serving"] is True
        assert httpx.get(f"{node.url}/livez").json() == {"ok": True, "node": "webb-1"}
        text = httpx.get(f"{node.url}/metrics",
                         headers={"Authorization": f"Bearer {TOKEN}"}).text
        await socket.close()
    finally:
        await anna.close()
    event = next(line for line in text.splitlines()
                 if line.startswith("traffpunkt_socket_clients{"))
    assert event.endswith(" 1.0"), event  # Anna, at her event
    for series in (
        'traffpunkt_http_request_seconds_bucket{le="0.5",method="POST",route="/e/<slug>/register"}',
        'traffpunkt_dependency_up{dependency="database"} 1.0',
        'traffpunkt_db_pool_connections{state="in_use"}',
        'traffpunkt_media_viewers{transport="hls"} 0.0',
        "traffpunkt_media_publishers 0.0",
        "traffpunkt_room_media_rooms 0.0",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert series in text, series
    assert missing(text) == [], "the dashboard reads metrics /metrics does not declare"

    # Its log: one JSON object per line, each with the node.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and '"node"' not in node.output():
        time.sleep(0.1)
    lines = [json.loads(line) for line in node.output().splitlines() if line.startswith("{")]
    assert lines, node.output()[-2000:]
    assert all(line["node"] == "webb-1" and "time" in line and "level" in line
               for line in lines)
