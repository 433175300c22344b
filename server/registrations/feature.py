"""Registrations on a node: the organisers' and the participant's pages, and the retention
job that anonymises an event's registrations when its period is over (every node runs it; it
is idempotent)."""

from __future__ import annotations

import asyncio
import logging

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.platform.registration import FORGETTING
from server.registrations import views
from server.registrations.service import anonymise_expired

log = logging.getLogger(__name__)
RETENTION_EVERY = 3600.0


def install(platform: Platform, app: Quart) -> None:
    if platform.settings.node_role == "media":
        return
    task: list[asyncio.Task[None]] = []

    async def retention() -> None:
        while True:
            try:
                async with platform.db.transaction() as db:
                    await anonymise_expired(db, platform.need(FORGETTING))
            except Exception:  # the database away for a moment: the next hour tries again
                log.exception("registrations: the retention pass failed")
            await asyncio.sleep(RETENTION_EVERY)

    async def start() -> None:
        task.append(asyncio.create_task(retention(), name="registration-retention"))

    async def stop() -> None:
        for t in task:
            t.cancel()
        await asyncio.gather(*task, return_exceptions=True)

    platform.lifecycle.add("registrations.retention", start, stop)


FEATURE = Feature("registrations", blueprint=views.registrations, install=install)
