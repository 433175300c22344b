"""Alembic environment: async engine, batch mode so SQLite runs the same scripts as PostgreSQL."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import server.all_models  # noqa: F401 - every table, for autogenerate
from server.platform.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: sqlalchemy.url is not set")
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async())


run()
