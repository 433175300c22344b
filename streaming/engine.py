"""The media engine: owner of every stage and, through them, every peer connection."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from types import TracebackType

from .aiortc_compat import check_aiortc_internals
from .config import StreamingConfig
from .errors import StreamingError
from .hub import LoopLag
from .stage import Stage, StageListener
from .workers import WorkerLink, WorkerPool

__all__ = ["MediaEngine"]

_STAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MediaEngine:
    """Runs the stages of one media process.

    Use ``async with MediaEngine(config) as engine`` or ``start()``/``stop()``;
    ``stop()`` closes every stage, peer connection, packager and recorder.
    ``listener`` receives :class:`~streaming.stage.StageEvent` s; it runs on the
    event loop and must not block.
    """

    def __init__(self, config: StreamingConfig, listener: StageListener | None = None) -> None:
        self.config = config
        self._listener = listener
        self._stages: dict[str, Stage] = {}
        self._running = False
        self.loop_lag = LoopLag(config.viewer_lag_limit)  # new viewers to HLS while it lags
        self.workers: WorkerPool | None = None  # the origin's forwarding processes
        self.link: WorkerLink | None = None  # a forwarding process's link to its origin

    async def start(self) -> None:
        """Check the aiortc internals we rely on and prepare the media root."""
        check_aiortc_internals()
        self.loop_lag.start()
        self.config.hls_root.mkdir(parents=True, exist_ok=True)
        self.config.recordings_root.mkdir(parents=True, exist_ok=True)
        self._running = True

    async def serve_workers(self, address: str) -> WorkerPool:
        """Be a node's origin: forwarding processes connect at ``address`` (a Unix socket path,
        or ``@name`` in Linux's abstract namespace) and serve viewers of its stages."""
        self.workers = WorkerPool(self)
        await self.workers.start(address)
        return self.workers

    async def follow(self, address: str, name: str,
                     on_lost: Callable[[], Awaitable[None] | None] | None = None) -> WorkerLink:
        """Be a forwarding process of the origin listening at ``address``; ``on_lost`` runs
        when that link closes (the process should end: its viewers reconnect elsewhere)."""
        self.link = WorkerLink(self, address, name, on_lost)
        await self.link.start()
        return self.link

    async def stop(self) -> None:
        """Close every stage."""
        self._running = False
        await self.loop_lag.stop()
        stages = list(self._stages.values())
        self._stages.clear()
        for stage in stages:
            await stage.close()
        if self.workers is not None:
            await self.workers.stop()
        if self.link is not None:
            await self.link.stop()

    async def __aenter__(self) -> MediaEngine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id, created (with HLS if enabled) on first use."""
        if not self._running:
            raise StreamingError("engine.not_running", "the media engine is not running")
        stage = self._stages.get(stage_id)
        if stage is None:
            stage = self._new_stage(stage_id)
        return stage

    def _new_stage(self, stage_id: str, mirror: WorkerLink | None = None) -> Stage:
        if not _STAGE_ID.match(stage_id):
            raise StreamingError("stage.invalid_id", "stage ids are 1-64 of A-Z a-z 0-9 _ -")
        stage = Stage(stage_id, self.config, self._listener, self.loop_lag,
                      workers=self.workers, mirror=mirror)
        if self.config.hls_enabled and self.config.fanout == "encode_once" and mirror is None:
            stage.start_hls()
        self._stages[stage_id] = stage
        return stage

    def existing_stage(self, stage_id: str) -> Stage | None:
        """The stage with this id if it exists (never creates one)."""
        return self._stages.get(stage_id)

    def mirror_stage(self, stage_id: str, link: WorkerLink) -> Stage:
        """In a forwarding process: the stage that mirrors the origin's (no publisher, no HLS,
        no events of its own), created on its first viewer."""
        if not self._running:
            raise StreamingError("engine.not_running", "the media engine is not running")
        return self._stages.get(stage_id) or self._new_stage(stage_id, mirror=link)

    @property
    def stages(self) -> list[Stage]:
        """The stages that exist now."""
        return list(self._stages.values())

    async def close_stage(self, stage_id: str) -> None:
        """Close one stage and forget it."""
        stage = self._stages.pop(stage_id, None)
        if stage is None:
            raise StreamingError("session.not_found", "no such stage")
        await stage.close()
