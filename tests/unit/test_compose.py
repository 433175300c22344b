"""The production topology files agree with what the settings and the design need."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
APP_ENV = ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "SECRET_KEY", "PUBLIC_URL")
SERVICES = ("web", "media", "postgres", "redis", "nginx", "coturn", "migrate")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    return re.sub(r"#.*", "", text)  # comments must not satisfy the checks


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def location(conf: str, prefix: str) -> str:
    """The body of the first `location <prefix>... { ... }` block, nested blocks included (a
    regex location is named by its start: `location(conf, '~ "^/media/hls/')`)."""
    head = re.search(re.escape(f"location {prefix}") + (r" {" if not prefix.startswith("~")
                                                         else r"[^\n]* {\n"), conf)
    assert head is not None, prefix
    start = head.end()
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(conf[end], 0)
        end += 1
    return conf[start : end - 1]


def test_every_service_exists(compose: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(compose["services"])


def test_web_runs_two_replicas_without_media(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]
    assert web["deploy"]["replicas"] == 2
    assert command(web)[:2] == ["traffpunkt", "serve"] and "--no-media" in command(web)
    assert "container_name" not in web  # replicas need generated names


def test_media_runs_media_only_and_publishes_udp(compose: dict[str, Any]) -> None:
    media = compose["services"]["media"]
    assert command(media)[:2] == ["traffpunkt", "serve"] and "--media-only" in command(media)
    assert any(str(port).endswith("/udp") for port in media["ports"])


@pytest.mark.parametrize("name", ["web", "media", "migrate"])
def test_app_services_get_their_settings(compose: dict[str, Any], name: str) -> None:
    env = environment(compose["services"][name])
    assert set(APP_ENV) <= set(env)
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert env["TRAFFPUNKT_ENV"] == "production"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never a default


@pytest.mark.parametrize("name", ["web", "media"])
def test_app_services_wait_for_migrations(compose: dict[str, Any], name: str) -> None:
    depends = compose["services"][name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert command(compose["services"]["migrate"]) == ["traffpunkt", "db", "upgrade"]


def test_media_root_is_shared_with_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    media_root = environment(services["media"])["MEDIA_ROOT"]
    for name in ("web", "media", "nginx"):
        assert any(v.split(":")[1] == media_root for v in services[name]["volumes"]), name


def test_every_service_has_a_healthcheck(compose: dict[str, Any], nginx_conf: str) -> None:
    """Every long-running service (migrate is a job: its exit code is its health); the app's
    nodes by readiness, nginx by a location of its own, coturn by a STUN request."""
    services = compose["services"]
    for name in SERVICES:
        if name == "migrate":
            assert services[name]["restart"] == "no" and "healthcheck" not in services[name]
            continue
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "8001/readyz" in " ".join(services["media"]["healthcheck"]["test"])
    assert "/nginx-health" in " ".join(services["nginx"]["healthcheck"]["test"])
    assert "return 200" in location(nginx_conf, "= /nginx-health")
    assert "turnutils_stunclient" in services["coturn"]["healthcheck"]["test"]
    assert {s: c["condition"] for s, c in services["nginx"]["depends_on"].items()} == {
        "web": "service_healthy", "media": "service_healthy"}


def test_nginx_gives_each_request_an_id(nginx_conf: str) -> None:
    assert re.search(r"proxy_set_header\s+X-Request-ID\s+\$request_id;", nginx_conf)


def test_nginx_proxies_socketio_with_upgrade_and_sticky_sessions(nginx_conf: str) -> None:
    assert "proxy_pass http://web" in location(nginx_conf, "/socket.io/")
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade", nginx_conf)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade", nginx_conf)
    assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade", nginx_conf)
    assert re.search(r"upstream\s+web\s*{[^}]*ip_hash;[^}]*server\s+web:8000", nginx_conf)


def test_nginx_routes_media(nginx_conf: str) -> None:
    assert "proxy_pass http://media" in location(nginx_conf, "/whip/")
    assert "proxy_pass http://media" in location(nginx_conf, "/whep/")
    assert "proxy_pass http://web" in location(nginx_conf, "/")


def test_nginx_serves_hls_only_after_asking_the_app(nginx_conf: str) -> None:
    hls = location(nginx_conf, '~ "^/media/hls/')
    assert "alias /var/lib/traffpunkt/media/hls/$hls_stage/$hls_file;" in hls
    assert "auth_request /_hls_auth;" in hls
    assert "return 404;" in location(nginx_conf, "/media/hls/")
    auth = location(nginx_conf, "= /_hls_auth")
    assert "internal;" in auth and "proxy_pass http://web/media/hls-auth;" in auth
    assert re.search(r'proxy_cache_key\s+"\$cookie_tp_session\|\$hls_stage";', auth)
    assert re.search(r"m3u8\s+\"private, max-age=1\"", nginx_conf)


def test_coturn_uses_the_shared_secret(compose: dict[str, Any]) -> None:
    conf = (ROOT / "deploy" / "turnserver.conf").read_text(encoding="utf-8")
    assert re.search(r"^use-auth-secret$", conf, re.MULTILINE)
    assert not re.search(r"^static-auth-secret", conf, re.MULTILINE)  # no secret committed
    args = command(compose["services"]["coturn"])
    assert "--static-auth-secret=${TURN_SECRET:?set TURN_SECRET in .env}" in args


def test_dockerfile_runs_the_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install \.$", dockerfile, re.MULTILINE)
    cmd = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)[-1]
    assert json.loads(cmd) == ["traffpunkt", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.MULTILINE)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["traffpunkt"] == "server.cli:main"
