"""The node's media engine (streaming/), owned here and shared by the webcast, recording and
breakout features. Features subscribe to stage events instead of replacing the listener."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from server.platform import keys, turn
from server.platform.errors import log_unexpected
from server.platform.settings import Settings
from streaming import MediaEngine, Stage, StageEvent, StreamingConfig
from streaming.config import IceServer as EngineIceServer
from streaming.config import IceServers

StageSubscriber = Callable[[StageEvent], Awaitable[None] | None]


class MediaService:
    """Builds the engine from Settings, starts and stops it, and fans its events out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = MediaEngine(self._config(settings), listener=self._dispatch)
        self._subscribers: list[StageSubscriber] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _config(settings: Settings) -> StreamingConfig:
        def ice() -> IceServers:  # fresh TURN credentials for each peer connection
            return tuple(EngineIceServer(s.urls, s.username, s.credential)
                         for s in turn.ice_servers(settings, f"media-{settings.node_id}"))

        return StreamingConfig(
            media_root=settings.media_root, viewer_cap=settings.webrtc_viewer_cap,
            ice_servers=ice() if not settings.media_uses_turn else (),
            ice_provider=ice if settings.media_uses_turn else None,
            connect_timeout=settings.webrtc_connect_timeout,
            viewer_lag_limit=settings.webrtc_lag_limit_ms / 1000,
            renditions=settings.stage_ladder,
        )

    def subscribe(self, subscriber: StageSubscriber) -> None:
        self._subscribers.append(subscriber)

    def stage_id(self, event_id: int) -> str:
        """The event's stage id: its HLS folder and URL, not guessable from the event id."""
        return keys.stage_id(event_id, self.settings.secret_key)

    def stage_for_event(self, event_id: int) -> Stage:
        return self.engine.stage(self.stage_id(event_id))

    def _dispatch(self, event: StageEvent) -> None:
        for subscriber in self._subscribers:
            try:
                result = subscriber(event)
            except Exception as exc:  # one subscriber's bug must not silence the others
                log_unexpected("stage subscriber", exc)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception():
            log_unexpected("stage subscriber", task.exception())  # type: ignore[arg-type]

    @property
    def enabled(self) -> bool:
        """False on a web node started with --no-media: the engine runs on a media node."""
        return self.settings.node_role != "web"

    async def start(self) -> None:
        if self.enabled:
            await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        for task in self._tasks:
            task.cancel()
