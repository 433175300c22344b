"""The embedded default (SQLite): concurrent write transactions queue, none fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from server.platform.db import Database


async def test_concurrent_read_then_write_transactions_all_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/embedded.db")
    try:
        async with db.transaction() as s:
            await s.execute(text("CREATE TABLE counter (n INTEGER)"))
            await s.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump() -> None:
            # Read, yield to the others, then write: what an approval or a vote does.
            async with db.transaction() as s:
                n = await s.scalar(text("SELECT n FROM counter"))
                await asyncio.sleep(0.01)
                await s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(12)))
        async with db.session() as s:
            assert await s.scalar(text("SELECT n FROM counter")) == 12, "no lost update"
    finally:
        await db.close()
