"""The same Alembic scripts build the schema on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import server.all_models  # noqa: F401 - every table
from server.platform import models
from server.platform.db import upgrade_async


async def _drift_and_regions(url: str) -> tuple[list, list]:  # type: ignore[type-arg]
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        drift = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), models.Base.metadata))
        regions = (await conn.execute(text("SELECT code, name FROM regions ORDER BY code"))).all()
    await engine.dispose()
    return drift, regions


async def test_migrations_on_sqlite_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await upgrade_async(url)
    await upgrade_async(url)  # running again is a no-op, not an error
    drift, regions = await _drift_and_regions(url)
    assert drift == []
    assert len(regions) == 21
    assert ("M", "Skåne") in [tuple(r) for r in regions]


async def test_migrations_on_postgresql_match_the_models(pg_url: str) -> None:
    drift, regions = await _drift_and_regions(pg_url)
    assert drift == []
    assert {r[1] for r in regions} >= {"Norrbotten", "Västra Götaland", "Jämtland Härjedalen"}
