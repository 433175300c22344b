"""The node's media engine (streaming/), owned here and shared by the webcast, recording and
breakout features. Features subscribe to stage events instead of replacing the listener."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from server.platform import keys, turn
from server.platform.errors import log_unexpected
from server.platform.settings import Settings
from streaming import MediaEngine, Stage, StageEvent, StreamingConfig
from streaming.config import IceServer as EngineIceServer
from streaming.config import IceServers

StageSubscriber = Callable[[StageEvent], Awaitable[None] | None]

logger = logging.getLogger(__name__)

RESTART_DELAY = 1.0  # a forwarding process that ended is started again after this


class MediaService:
    """Builds the engine from Settings, starts and stops it, and fans its events out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = MediaEngine(self._config(settings), listener=self._dispatch)
        self._subscribers: list[StageSubscriber] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._running = False

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
        if not self.enabled:
            return
        await self.engine.start()
        self._running = True
        settings = self.settings
        if settings.media_origin:  # a forwarding process of this node
            await self.engine.follow(settings.media_origin, settings.node_id, self._origin_lost)
        elif settings.media_process_count > 1:
            address = f"@traffpunkt-media-{settings.node_id}"
            await self.engine.serve_workers(address)
            self._keepers = [asyncio.create_task(self._keep(address, index))
                             for index in range(1, settings.media_process_count)]
            for keeper in self._keepers:
                keeper.add_done_callback(self._done)

    def processes(self) -> dict[str, int]:
        """This media node's processes: configured, and running (the origin and those linked
        to it); a forwarding process speaks only for itself."""
        configured = self.settings.media_process_count
        linked = len(self.engine.workers.live()) if self.engine.workers is not None else 0
        return {"configured": configured, "running": 1 + linked if self._running else 0}

    def local_viewers(self) -> int:
        """WebRTC viewers this process sends to (part of its load as a room host)."""
        return sum(stage.local_viewer_count for stage in self.engine.stages)

    async def _keep(self, address: str, index: int) -> None:
        """Run forwarding process ``index`` (the same `serve --media-only`, on a loopback port
        nobody is sent to, with the origin's settings), and again if it ends while we run."""
        env = {**os.environ, "NODE_ID": f"{self.settings.node_id}-{index}",
               "MEDIA_ORIGIN": address, "MEDIA_PROCESSES": "1"}
        while self._running:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.cli", "serve", "--media-only",
                "--host", "127.0.0.1", "--port", "0", env=env)
            self._processes[index] = process
            code = await process.wait()
            if self._running:
                logger.warning("media process %d ended (%s); starting it again", index, code)
                await asyncio.sleep(RESTART_DELAY)

    @staticmethod
    def _origin_lost() -> None:
        """This forwarding process's origin is gone (stopped or killed): end, as the origin
        would have ended us; its viewers reconnect to whoever serves then."""
        logger.warning("the media node's origin is gone: this forwarding process ends")
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop(self) -> None:
        self._running = False
        for keeper in self._keepers:
            keeper.cancel()
        await self._end_processes()
        await self.engine.stop()
        for task in self._tasks:
            task.cancel()

    async def _end_processes(self) -> None:
        processes = [p for p in self._processes.values() if p.returncode is None]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), self.settings.shutdown_grace_seconds + 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._processes.clear()
