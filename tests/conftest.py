"""Shared fixtures: the real PostgreSQL and Redis, an app on them, and live servers."""

from __future__ import annotations

import functools
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-not-for-production"
KEEP = ("alembic_version", "regions")
DEMO = ROOT / "server" / "data" / "demo_event.json"


SERVER_FIXTURES = {"demo_server", "module_server", "live_server", "two_nodes", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m fast` is every test that is not `slow`. A test is slow when it needs a server process
    or Chromium (known here by its fixtures) or, marked by hand in its module, starts its own
    processes or waits on real-time media."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.fast)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reset_schema(url: str) -> None:
    """Drop everything and migrate from scratch: every run starts from the real migrations."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def drop() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(drop())
    from server.platform.db import upgrade

    upgrade(url)


SEQUENCE_FLOOR: dict[str, int] = {}
"""The highest value each id sequence has reached this session (see `truncate`)."""


async def truncate(url: str, restart_ids: bool = True) -> None:
    """Empty every table but the migrations' own. A server process shared by several tests
    keeps state keyed by ids (rate-limit windows, presence, notes rooms): for it, ids go on
    from the highest ever handed out instead of restarting, so no test meets another's ids."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        for attempt in range(3):
            try:
                await _truncate(engine, restart_ids)
                return
            except DBAPIError as exc:
                # TRUNCATE locks table after table; a server process of the previous test still
                # finishing a transaction over two of them makes PostgreSQL abort one side as a
                # deadlock. Its own remedy: run the transaction again (the other side is done).
                if "deadlock detected" not in str(exc) or attempt == 2:
                    raise
    finally:
        await engine.dispose()


async def _truncate(engine, restart_ids: bool) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        for name, value in await conn.execute(text(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname='public'")):
            SEQUENCE_FLOOR[name] = max(SEQUENCE_FLOOR.get(name, 0), value or 0)
        rows = await conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        tables = [r[0] for r in rows if r[0] not in KEEP]
        restart = " RESTART IDENTITY" if restart_ids else ""
        if tables:
            await conn.execute(text(f"TRUNCATE {', '.join(tables)}{restart} CASCADE"))
        if not restart_ids:
            for name, floor in SEQUENCE_FLOOR.items():
                if floor:
                    await conn.execute(text("SELECT setval(:name, :floor)"),
                                       {"name": name, "floor": floor})


@pytest.fixture(scope="session")
def pg_url() -> str:
    reset_schema(PG_URL)
    return PG_URL


@pytest.fixture
async def clean_db(pg_url: str, request: pytest.FixtureRequest) -> str:
    """An empty database (regions aside). Ids restart at 1 unless the test runs on a shared
    server process, which must never see an id twice."""
    await truncate(pg_url, restart_ids="demo_server" not in request.fixturenames)
    return pg_url


def make_settings(database_url: str, media_root: Path, redis_url: str | None = None):  # type: ignore[no-untyped-def]
    from server.platform.settings import Settings

    return Settings(
        env="test", database_url=database_url, redis_url=redis_url, secret_key=SECRET,
        media_root=media_root, public_url="http://127.0.0.1",
        webrtc_lag_limit_ms=0,  # as in server_env: the adaptive cap is tested on its own
    )


@pytest.fixture
async def app(clean_db: str, tmp_path: Path) -> AsyncIterator[object]:
    """The whole ASGI app on the real PostgreSQL, with the demo event imported."""
    from server.app import create_app

    asgi = create_app(make_settings(clean_db, tmp_path / "media"))
    quart = asgi.quart  # type: ignore[attr-defined]
    async with quart.test_app():
        await seed_demo(asgi.platform)  # type: ignore[attr-defined]
        yield asgi


async def seed_demo(platform) -> None:  # type: ignore[no-untyped-def]
    from server.programme.importer import import_event, read_event_file

    async with platform.db.transaction() as db:
        await import_event(db, read_event_file(DEMO))


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.quart.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


async def get_csrf(client, path: str = "/") -> str:  # type: ignore[no-untyped-def]
    response = await client.get(path)
    return csrf_from((await response.get_data()).decode())


VALID_REGISTRATION = {
    "name": "Åsa Öberg", "email": "asa@example.se", "organisation": "Malmö stadsbibliotek",
    "municipality": "Malmö", "region": "M", "job_role": "bibliotekarie", "attendance": "online",
}


async def register(client, slug: str = "hosten-2020", **fields):  # type: ignore[no-untyped-def]
    token = await get_csrf(client, f"/e/{slug}/register")
    form = {**VALID_REGISTRATION, **fields, "csrf_token": token}
    return await client.post(f"/e/{slug}/register", form=form)


async def signed_in(app, role: str, username: str | None = None):  # type: ignore[no-untyped-def]
    """A test client signed in as a staff user with `role` (made if missing)."""
    from sqlalchemy import select

    from server.platform.auth import hash_password
    from server.platform.models import User

    username = username or role
    async with app.platform.db.transaction() as db:
        if not await db.scalar(select(User).where(User.username == username)):
            db.add(User(username=username, display_name=username.title(), role=role,
                        password_hash=hash_password(f"{username}-password")))
    client = app.quart.test_client()
    token = await get_csrf(client, "/login")
    response = await client.post("/login", form={
        "username": username, "password": f"{username}-password", "csrf_token": token})
    assert response.status_code == 302
    return client


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback (aiosmtpd) and what it received (tests/mail.py)."""
    from tests.mail import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class LiveServer:
    """A real `traffpunkt serve` process on a free port."""

    def __init__(self, env: dict[str, str], port: int | None = None,
                 host: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.env = {**os.environ, **env, "PUBLIC_URL": self.url}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        return self.spawn().wait()

    def spawn(self) -> LiveServer:
        """Start the process without waiting for it: several can start side by side."""
        # The log goes to a file, never a pipe: an unread pipe fills up and blocks the server.
        self.log = tempfile.NamedTemporaryFile(prefix=f"traffpunkt-{self.port}-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", self.host,
             "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        return self

    def wait(self) -> LiveServer:
        """Until the server answers on its port."""
        assert self.proc is not None, "spawn() first"
        wait_for_port(self.port, self.proc, Path(self.log.name), host=self.host)
        return self

    @property
    def media(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace") if self.proc else ""

    def terminate(self) -> None:
        """Ask the process to shut down without waiting (see `stop`)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30,
                  host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection((host, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def server_env(database_url: str, media_root: Path, redis_url: str | None = None) -> dict[str, str]:
    env = {
        "TRAFFPUNKT_ENV": "test", "DATABASE_URL": database_url, "SECRET_KEY": SECRET,
        "MEDIA_ROOT": str(media_root),
        "SHUTDOWN_GRACE_SECONDS": "0.5",  # a test's clients are closed before the server stops
        # Chromium, the server and its peers share 2 cores here: how far the media loop and the
        # fan-out lag says more about the machine than about the server, and a test that wants
        # WebRTC must not get HLS for it. The adaptive cap is tested on its own in
        # tests/unit/test_streaming_fanout_health.py.
        "WEBRTC_LAG_LIMIT_MS": "0",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture
def live_server(clean_db: str, tmp_path: Path) -> Iterator[LiveServer]:
    """One server process on the real PostgreSQL (demo event seeded by the test via HTTP/db)."""
    server = LiveServer(server_env(clean_db, tmp_path / "media")).start()
    yield server
    server.stop()


MODERATOR = ("moderator", "moderator-lösenord-1")
ARCHIVIST = ("arkivarie", "arkivarie-lösenord-1")


@functools.cache
def password_hash(password: str) -> str:
    """Hashing is slow on purpose; one salted hash per password serves every test's seed."""
    from server.platform.auth import hash_password

    return hash_password(password)


async def seed(url: str) -> None:
    """The demo event and two staff users, through the server's own code."""
    from server.platform.db import Database
    from server.platform.models import User

    db = Database(url)
    try:
        async with db.transaction() as session:
            from server.programme.importer import import_event, read_event_file

            await import_event(session, read_event_file(DEMO))
            for (username, password), role in ((MODERATOR, "moderator"), (ARCHIVIST, "archivist")):
                session.add(User(username=username, display_name=username.title(), role=role,
                                 password_hash=password_hash(password)))
    finally:
        await db.close()


@pytest.fixture(scope="module")
def module_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server process for all of a module's `demo_server` tests (started on first use)."""
    server = LiveServer(server_env(pg_url, tmp_path_factory.mktemp("media")))
    yield server
    server.stop()


@pytest.fixture
async def demo_server(clean_db: str, module_server: LiveServer) -> LiveServer:
    """A live server with the demo event and staff users seeded.

    The process is shared by the module's tests: each gets an emptied database with the demo
    seeded again and ids never seen before (`truncate`), so nothing the server keeps in memory
    belongs to it. Every test closes its sockets; a test that stops the server gets a new
    process for the next one.
    """
    await seed(clean_db)
    if not module_server.running():
        module_server.start()
    return module_server


@pytest.fixture
async def two_nodes(clean_db: str, tmp_path: Path) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two server processes on the same PostgreSQL and the real Redis, demo event seeded."""
    import redis.asyncio as redis

    r = redis.from_url(REDIS_URL)
    await r.flushdb()
    await r.aclose()
    await seed(clean_db)
    env = server_env(clean_db, tmp_path / "media", REDIS_URL)
    a, b = LiveServer(env).spawn(), LiveServer(env).spawn()
    for node in (a, b):
        node.wait()
    yield a, b
    a.terminate()  # both shut down side by side
    b.stop()
    a.stop()
