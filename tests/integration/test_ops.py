"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from server.app import create_app
from tests.conftest import REDIS_URL, make_settings


async def test_healthz_reports_database(client) -> None:
    response = await client.get("/healthz")
    body = await response.get_json()
    assert response.status_code == 200
    assert body["checks"] == {"database": True, "redis": "not used"}


async def test_healthz_checks_redis_when_configured(clean_db, tmp_path: Path) -> None:
    asgi = create_app(make_settings(clean_db, tmp_path, REDIS_URL))
    async with asgi.quart.test_app():
        body = await (await asgi.quart.test_client().get("/healthz")).get_json()
    assert body["checks"] == {"database": True, "redis": True}


async def test_healthz_is_503_when_redis_is_unreachable(clean_db, tmp_path: Path) -> None:
    asgi = create_app(make_settings(clean_db, tmp_path, "redis://127.0.0.1:1/0"))
    client = asgi.quart.test_client()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["redis"].startswith("error")


async def test_metrics_are_prometheus_text(client) -> None:
    await client.get("/e/hosten-2020")
    response = await client.get("/metrics")
    text = (await response.get_data()).decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'traffpunkt_http_requests_total{method="GET",status="200"}' in text
    assert "traffpunkt_socket_connections" in text


async def test_openapi_documents_the_json_api(client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert spec["info"]["title"] == "Träffpunkt API"
    assert "/api/events/{slug}" in spec["paths"]
    assert "/api/events/{slug}/socket-token" in spec["paths"]
    programme = await (await client.get("/api/events/hosten-2020")).get_json()
    assert [i["title"] for i in programme["items"]][:2] == ["Välkomna!", "Introduktion"]
    assert len(programme["themes"]) == 4
    missing = await client.get("/api/events/finns-inte")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "event.not_found"
