"""Helpers shared by the benchmark scripts (bench/*.py)."""

from __future__ import annotations


async def ensure_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database on a machine that has never run it."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    wanted = make_url(url)
    admin = create_async_engine(wanted.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": wanted.database})
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{wanted.database}"'))
    finally:
        await admin.dispose()
