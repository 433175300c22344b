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

from server.platform.db import Database
from server.platform.models import Event, utcnow
from server.recording.models import Publication, Recording, RecordingPolicy
from tests.conftest import ROOT, seed, server_env

pytestmark = pytest.mark.integration


DEFAULT_SET = (("old", 91, None), ("kept", 89, None), ("published", 400, "published"))


async def _recordings(
    url: str, media: Path, rows: tuple[tuple[str, int, str | None], ...] = DEFAULT_SET
) -> dict[str, int]:
    """Recordings (name, age in days, publication status or None), files included."""
    await seed(url)
    db = Database(url)
    ids = {}
    async with db.transaction() as session:
        event = await session.scalar(select(Event).where(Event.slug == "hosten-2020"))
        for name, age, publication in rows:
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
            if publication:
                session.add(Publication(recording_id=rec.id, status=publication))
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


@pytest.mark.slow
async def test_purge_deletes_unpublished_recordings_past_the_default_90_days(
    clean_db: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    await _recordings(clean_db, media)
    assert "1 inspelningar raderade" in _purge(clean_db, media)
    assert await _left(clean_db) == {"kept", "published"}
    assert not (media / "recordings" / "old.mp4").exists()
    assert (media / "recordings" / "published.mp4").exists()


@pytest.mark.slow
async def test_purge_skips_recordings_whose_publish_job_is_queued_or_running(
    clean_db: str, tmp_path: Path
) -> None:
    """A publish job reads the recording: deleting it under the job would break the job (and
    lose what the archivist is publishing). A failed or draft publication does not protect."""
    media = tmp_path / "media"
    await _recordings(clean_db, media, (
        ("queued", 120, "queued"),
        ("running", 120, "running"),
        ("failed", 120, "failed"),
        ("draft", 120, "draft"),
    ))
    assert "2 inspelningar raderade" in _purge(clean_db, media)
    assert await _left(clean_db) == {"queued", "running"}
    assert (media / "recordings" / "running.mp4").exists()
    assert not (media / "recordings" / "failed.mp4").exists()


async def test_admin_shortens_retention_and_the_next_purge_follows_it(
    app, client, tmp_path
) -> None:
    from server.platform.auth import hash_password
    from server.platform.models import User
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
