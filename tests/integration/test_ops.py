"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from server.app import create_app
from tests.conftest import REDIS_URL, free_port, make_settings


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


class TcpProxy:
    """A TCP relay to the real PostgreSQL that can be cut, like a database host going away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def cut(self) -> None:
        """Stop listening and break every open connection."""
        if self.server is None:
            return
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None
        self.writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_healthz_is_503_when_the_database_is_unreachable(clean_db, tmp_path: Path) -> None:
    real = make_url(clean_db)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    asgi = create_app(make_settings(via_proxy, tmp_path))
    try:
        async with asgi.quart.test_app():
            client = asgi.quart.test_client()
            assert (await client.get("/healthz")).status_code == 200
            await proxy.cut()  # the database host is gone while the node serves
            response = await client.get("/healthz")
            body = await response.get_json()
            assert response.status_code == 503
            assert body["ok"] is False
            assert body["checks"]["database"].startswith("error")
            assert body["checks"]["redis"] == "not used"
            await proxy.start()  # and back: the node recovers without a restart
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await proxy.cut()


async def test_metrics_are_prometheus_text(client, app) -> None:
    await client.get("/e/hosten-2020")
    assert (await client.get("/metrics")).status_code == 401, "not for anyone on the internet"
    app.platform.settings.metrics_token = "skrapa-123"
    assert (await client.get("/metrics", headers={
        "Authorization": "Bearer fel"})).status_code == 401
    response = await client.get("/metrics", headers={"Authorization": "Bearer skrapa-123"})
    text = (await response.get_data()).decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'traffpunkt_http_requests_total{method="GET",status="200"}' in text
    assert "traffpunkt_socket_connections" in text
    assert "traffpunkt_event_loop_lag_seconds_bucket" in text  # the node's loop watch
    assert "traffpunkt_gc_pause_seconds" in text


async def test_openapi_documents_the_json_api(client, app) -> None:
    assert (await client.get("/openapi.json")).status_code == 401, "staff read the API's docs"
    assert (await client.get("/api/docs")).status_code == 401
    from tests.integration.test_feedback_http import staff

    admin = await staff(app, "adm", "admin")
    spec = await (await admin.get("/openapi.json")).get_json()
    assert spec["info"]["title"] == "Träffpunkt API"
    assert "/api/events/{slug}" in spec["paths"]
    assert "/api/events/{slug}/socket-token" in spec["paths"]
    programme = await (await client.get("/api/events/hosten-2020")).get_json()
    assert [i["title"] for i in programme["items"]][:2] == ["Välkomna!", "Introduktion"]
    covid = next(i for i in programme["items"] if "covid-19" in i["title"])
    assert covid["organisations"] == ["stiftelsen Begripsam"]
    assert [s["organisation"] for s in covid["speakers"]] == ["MTM", "MTM"]
    assert len(programme["themes"]) == 4
    missing = await client.get("/api/events/finns-inte")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "event.not_found"


async def test_security_headers_on_every_page(client, app) -> None:
    """Issue 19: a CSP with no inline scripts, no camera or microphone but where a page asks
    for them, HSTS in production only."""
    page = await client.get("/e/hosten-2020")
    csp = dict(part.split(" ", 1) for part in page.headers["Content-Security-Policy"].split("; "))
    assert csp["script-src"] == "'self'", "no inline script, no eval, nothing from elsewhere"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'self'"
    assert "camera=()" in page.headers["Permissions-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in page.headers
    from tests.integration.test_feedback_http import staff

    producer = await (await staff(app, "prod", "moderator")).get("/e/hosten-2020/produce")
    assert producer.status_code == 200
    assert "camera=(self)" in producer.headers["Permissions-Policy"]
    app.platform.settings.env = "production"
    assert "max-age=" in (await client.get("/")).headers["Strict-Transport-Security"]
