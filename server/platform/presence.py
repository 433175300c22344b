"""Who is online in an event: everyone sees the count, moderators see the names."""

from __future__ import annotations

import asyncio
from typing import Any

from server.platform import keys
from server.platform.auth import Principal
from server.platform.node import Platform

COALESCE_SECONDS = 0.5


class Presence:
    """Joins and leaves are coalesced: a thousand people arriving at once cause a handful of
    broadcasts, not a thousand broadcasts to a thousand people each."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._pending: dict[int, asyncio.Task[None]] = {}

    async def joined(self, sid: str, principal: Principal, event_id: int) -> None:
        person = {
            "key": f"{principal.kind}:{principal.id}", "name": principal.name,
            "role": principal.role, "region": principal.region_code,
        }
        await self.platform.store.join(event_id, sid, person)
        self.schedule(event_id)

    async def left(self, sid: str, event_id: int) -> None:
        await self.platform.store.leave(event_id, sid)
        self.schedule(event_id)

    def schedule(self, event_id: int) -> None:
        if event_id not in self._pending:
            self._pending[event_id] = asyncio.create_task(self._later(event_id))

    async def _later(self, event_id: int) -> None:
        await asyncio.sleep(COALESCE_SECONDS)
        self._pending.pop(event_id, None)
        await self.broadcast(event_id)

    async def stop(self) -> None:
        for task in self._pending.values():
            task.cancel()

    async def snapshot(self, event_id: int) -> list[dict[str, Any]]:
        return await self.platform.store.online(event_id)

    async def broadcast(self, event_id: int) -> None:
        people = await self.snapshot(event_id)
        sio = self.platform.sio
        await sio.emit("presence.count", {"count": len(people)}, to=keys.event_room(event_id))
        listing = [{k: p[k] for k in ("key", "name", "role", "region")} for p in people]
        await sio.emit(
            "presence.list", {"count": len(people), "people": listing},
            to=keys.moderators_room(event_id),
        )
