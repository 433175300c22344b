"""Retention: recordings not published are deleted after the period an admin sets
(default 90 days), by `traffpunkt purge-recordings` (and the server's hourly task)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from server.db import Database
from server.models import Event, utcnow
from server.models_recording import Publication, Recording, RecordingPolicy
from tests.conftest import ROOT, seed, server_env

pytestmark = pytest.mark.integration


async def _recordings(url: str, media: Path) -> dict[str, int]:
    await seed(url)
    db = Database(url)
    ids = {}
    async with db.transaction() as session:
        event = await session.scalar(select(Event).where(Event.slug == "hosten-2020"))
        for name, age, published in (
            ("old", 91, False),
            ("kept", 89, False),
            ("published", 400, True),
        ):
            path = media / "recordings" / f"{name}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"fragment")
            rec = Recording(
                event_id=event.id,
                file_path=f"recordings/{name}.mp4",
                status="stopped",
                started_at=utcnow() - timedelta(days=age),
            )
            session.add(rec)
            await session.flush()
            if published:
                session.add(Publication(recording_id=rec.id, status="published"))
            ids[name] = rec.id
    await db.close()
    return ids


def _purge(url: str, media: Path) -> str:
    env = {**os.environ, **server_env(url, media), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "purge-recordings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


async def _left(url: str) -> set[str]:
    db = Database(url)
    async with db.session() as session:
        rows = await session.scalars(select(Recording.file_path))
        left = {Path(p).stem for p in rows}
    await db.close()
    return left


async def test_purge_deletes_unpublished_recordings_past_the_default_90_days(
    clean_db: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    await _recordings(clean_db, media)
    assert "1 inspelningar raderade" in _purge(clean_db, media)
    assert await _left(clean_db) == {"kept", "published"}
    assert not (media / "recordings" / "old.mp4").exists()
    assert (media / "recordings" / "published.mp4").exists()


async def test_admin_shortens_retention_and_the_next_purge_follows_it(
    app, client, tmp_path
) -> None:
    from server.auth import hash_password
    from server.models import User
    from tests.conftest import get_csrf

    async with app.platform.db.transaction() as db:
        db.add(
            User(
                username="admin",
                display_name="Admin",
                role="admin",
                password_hash=hash_password("lösenord-för-test"),
            )
        )
        db.add(
            User(
                username="arkivarie",
                display_name="Arkivarie",
                role="archivist",
                password_hash=hash_password("lösenord-för-test"),
            )
        )
    for username, expected in (("arkivarie", 403), ("admin", 302)):
        token = await get_csrf(client, "/login")
        await client.post(
            "/login",
            form={"csrf_token": token, "username": username, "password": "lösenord-för-test"},
        )
        token = await get_csrf(client, "/archive")
        r = await client.post(
            "/archive/retention", form={"csrf_token": token, "retention_days": "30"}
        )
        assert r.status_code == expected
    async with app.platform.db.session() as db:
        assert (await db.get(RecordingPolicy, 1)).retention_days == 30
    page = (await (await client.get("/archive")).get_data()).decode()
    assert "raderas efter 30 dagar" in page
