"""The media engine: owner of every stage and, through them, every peer connection."""

from __future__ import annotations

import re
from types import TracebackType

from .aiortc_compat import check_aiortc_internals
from .config import StreamingConfig
from .errors import StreamingError
from .hub import LoopLag
from .stage import Stage, StageListener

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

    async def start(self) -> None:
        """Check the aiortc internals we rely on and prepare the media root."""
        check_aiortc_internals()
        self.loop_lag.start()
        self.config.hls_root.mkdir(parents=True, exist_ok=True)
        self.config.recordings_root.mkdir(parents=True, exist_ok=True)
        self._running = True

    async def stop(self) -> None:
        """Close every stage."""
        self._running = False
        await self.loop_lag.stop()
        stages = list(self._stages.values())
        self._stages.clear()
        for stage in stages:
            await stage.close()

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

    def _new_stage(self, stage_id: str) -> Stage:
        if not _STAGE_ID.match(stage_id):
            raise StreamingError("stage.invalid_id", "stage ids are 1-64 of A-Z a-z 0-9 _ -")
        stage = Stage(stage_id, self.config, self._listener, self.loop_lag)
        if self.config.hls_enabled and self.config.fanout == "encode_once":
            stage.start_hls()
        self._stages[stage_id] = stage
        return stage

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
