"""Recording of an event's stage: start and stop (by a moderator or when the stage goes live
with auto-record on), chapter marks, the `recording.state` everyone sees, and retention.

Only the stage is ever recorded: this module asks the media engine for
`stage_for_event(event_id)` and nothing else, so breakout rooms have no path in here.
The file is the engine's fragmented MP4 (the packets viewers get, no extra encode);
the row in `recordings` says where it is and how it went.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streaming import StageEvent, StreamingError
from streaming.publish import media_duration

from . import audit, keys
from .auth import Principal
from .errors import DomainError, NotFound, log_unexpected
from .models import Event, ProgrammeItem, utcnow
from .models_recording import (
    DEFAULT_RETENTION_DAYS,
    ChapterMark,
    Publication,
    Recording,
    RecordingOptions,
    RecordingPolicy,
)
from .platform import Platform

SERVICE_KEY = "recording"
PURGE_EVERY_SECONDS = 3600


@dataclass
class RecordingClock:
    """Seconds of recorded time: wall time since the start minus the time the stage was
    offline (the recorder pauses then, so the file has no gap)."""

    started: float = field(default_factory=time.monotonic)
    paused_since: float | None = None
    paused_total: float = 0.0

    def pause(self) -> None:
        if self.paused_since is None:
            self.paused_since = time.monotonic()

    def resume(self) -> None:
        if self.paused_since is not None:
            self.paused_total += time.monotonic() - self.paused_since
            self.paused_since = None

    def position(self) -> float:
        now = self.paused_since or time.monotonic()
        return max(0.0, now - self.started - self.paused_total)


def service(platform: Platform) -> RecordingService:
    return platform.extras[SERVICE_KEY]  # type: ignore[no-any-return]


# -- queries --------------------------------------------------------------------------


async def active_recording(db: AsyncSession, event_id: int) -> Recording | None:
    return await db.scalar(
        select(Recording).where(Recording.event_id == event_id, Recording.status == "recording")
    )


async def is_recording(db: AsyncSession, event_id: int) -> bool:
    return await active_recording(db, event_id) is not None


async def options(db: AsyncSession, event_id: int) -> RecordingOptions:
    row = await db.get(RecordingOptions, event_id)
    if row is None:
        row = RecordingOptions(event_id=event_id, auto_record=False)
        db.add(row)
    return row


async def retention_days(db: AsyncSession) -> int:
    row = await db.get(RecordingPolicy, 1)
    return row.retention_days if row else DEFAULT_RETENTION_DAYS


async def set_retention(db: AsyncSession, actor: Principal, days: int) -> None:
    actor.require_role("admin")
    if not 1 <= days <= 3650:
        raise DomainError("recording.bad_retention", "Ange mellan 1 och 3650 dagar.")
    row = await db.get(RecordingPolicy, 1) or RecordingPolicy(id=1)
    row.retention_days, row.updated_at = days, utcnow()
    db.add(row)
    audit.record(db, actor, None, "recording.retention", "policy", days=days)


def state_view(row: Recording | None, paused: bool = False) -> dict[str, Any]:
    if row is None:
        return {"recording": False, "recording_id": None, "since": None, "paused": False}
    return {
        "recording": True,
        "recording_id": row.id,
        "since": row.started_at.isoformat(),
        "paused": paused,
    }


# -- chapter marks ----------------------------------------------------------------------


async def mark_chapter(
    db: AsyncSession,
    platform: Platform,
    event_id: int,
    *,
    item_id: int | None = None,
    title: str | None = None,
    source: str = "programme",
) -> ChapterMark | None:
    """Store a chapter mark at the current position of the event's recording, if one runs.

    Called in the caller's transaction (the programme moving on, or a manual mark)."""
    row = await active_recording(db, event_id)
    if row is None or (title is None and item_id is None):
        return None
    if title is None:
        item = await db.get(ProgrammeItem, item_id) if item_id is not None else None
        title = item.title if item else "—"
    mark = ChapterMark(
        recording_id=row.id,
        offset_seconds=_position(platform, row),
        title=title[:300],
        item_id=item_id,
        source=source,
    )
    db.add(mark)
    return mark


def _position(platform: Platform, row: Recording) -> float:
    clock = platform.extras.get(SERVICE_KEY) and service(platform).clocks.get(row.id)
    if clock:
        return round(clock.position(), 3)
    # Recorded on another node: wall time since the start is the best estimate here.
    return round(max(0.0, (utcnow() - row.started_at).total_seconds()), 3)


async def chapter_marks(db: AsyncSession, recording_id: int) -> list[ChapterMark]:
    rows = await db.scalars(
        select(ChapterMark)
        .where(ChapterMark.recording_id == recording_id)
        .order_by(ChapterMark.offset_seconds, ChapterMark.id)
    )
    return list(rows)


# -- retention ---------------------------------------------------------------------------


async def purge_expired(
    db: AsyncSession, media_root: Path, now: datetime | None = None
) -> list[int]:
    """Delete recordings (file and row) older than the retention period and not published."""
    limit = (now or utcnow()) - timedelta(days=await retention_days(db))
    published = select(Publication.recording_id).where(Publication.status == "published")
    rows = await db.scalars(
        select(Recording).where(
            Recording.status != "recording",
            Recording.started_at < limit,
            Recording.id.not_in(published),
        )
    )
    gone = []
    for row in rows:
        (media_root / row.file_path).unlink(missing_ok=True)
        gone.append(row.id)
        await db.delete(row)
    return gone


# -- the service ----------------------------------------------------------------------------


class RecordingService:
    """Owns this node's running recordings; started and stopped with the server."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.clocks: dict[int, RecordingClock] = {}
        self._lock = asyncio.Lock()
        self._purge_task: asyncio.Task[None] | None = None

    @property
    def media_root(self) -> Path:
        return Path(self.platform.settings.media_root)

    async def start(self) -> None:
        self.platform.media.subscribe(self.on_stage)
        async with self.platform.db.transaction() as db:
            await self._mark_interrupted(db)
        self._purge_task = asyncio.create_task(self._purge_loop())

    async def stop(self) -> None:
        if self._purge_task:
            self._purge_task.cancel()
        for recording_id in list(self.clocks):
            try:
                await self._finish(recording_id, "stopped")
            except Exception as exc:  # shutting down: log and finish the others
                log_unexpected("recording.stop", exc)

    async def _mark_interrupted(self, db: AsyncSession) -> None:
        """Rows this node left 'recording' when it died: the file up to the kill is kept."""
        rows = await db.scalars(
            select(Recording).where(
                Recording.status == "recording", Recording.node_id == self.platform.settings.node_id
            )
        )
        for row in rows:
            row.status, row.stopped_at = "interrupted", utcnow()
            row.duration_seconds = await self._duration(row)

    async def _duration(self, row: Recording) -> float | None:
        path = self.media_root / row.file_path
        if not path.exists():
            return None
        try:
            return round(await asyncio.to_thread(media_duration, path), 3)
        except Exception as exc:  # an unreadable file still deserves a row
            log_unexpected("recording.duration", exc)
            return None

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_EVERY_SECONDS)
            try:
                await self.purge()
            except Exception as exc:
                log_unexpected("recording.purge", exc)

    async def purge(self) -> list[int]:
        async with self.platform.db.transaction() as db:
            return await purge_expired(db, self.media_root)

    # -- start / stop --------------------------------------------------------------------

    async def start_recording(self, actor: Principal | None, event_id: int) -> dict[str, Any]:
        async with self._lock, self.platform.db.transaction() as db:
            if await db.get(Event, event_id) is None:
                raise NotFound("event.not_found", "Evenemanget finns inte.")
            if await active_recording(db, event_id):
                raise DomainError("recording.active", "Scenen spelas redan in.")
            row, live = self._begin(event_id, actor)
            db.add(row)
            await db.flush()
            self.clocks[row.id] = clock = RecordingClock()
            if not live:
                clock.pause()  # the recorder waits for the publisher's first key frame
            if actor:
                audit.record(db, actor, event_id, "recording.start", f"recording:{row.id}")
        await self.broadcast(event_id)
        return state_view(row)

    def _begin(self, event_id: int, actor: Principal | None) -> tuple[Recording, bool]:
        stage = self.platform.media.stage_for_event(event_id)
        try:
            path = Path(stage.start_recording())
        except StreamingError as exc:
            raise DomainError(exc.code, "Inspelningen kunde inte starta.") from exc
        row = Recording(
            event_id=event_id,
            file_path=str(path.relative_to(self.media_root)),
            status="recording",
            node_id=self.platform.settings.node_id,
            started_by=actor.name if actor else "auto",
        )
        return row, stage.live

    async def stop_recording(self, actor: Principal | None, event_id: int) -> dict[str, Any]:
        async with self._lock, self.platform.db.session() as db:
            row = await active_recording(db, event_id)
        if row is None:
            raise DomainError("recording.not_active", "Scenen spelas inte in.")
        await self._finish(row.id, "stopped", actor)
        await self.broadcast(event_id)
        return state_view(None)

    async def _finish(self, recording_id: int, status: str, actor: Principal | None = None) -> None:
        self.clocks.pop(recording_id, None)
        async with self.platform.db.transaction() as db:
            row = await db.get(Recording, recording_id)
            if row is None or row.status != "recording":
                return
            try:
                self.platform.media.stage_for_event(row.event_id).stop_recording()
            except StreamingError:
                status = "interrupted"  # the engine lost it (stage closed): keep what is on disk
            row.status, row.stopped_at = status, utcnow()
            row.duration_seconds = await self._duration(row)
            if actor:
                audit.record(db, actor, row.event_id, "recording.stop", f"recording:{row.id}")

    async def set_auto(self, actor: Principal, event_id: int, on: bool) -> dict[str, Any]:
        actor.require_moderator()
        async with self.platform.db.transaction() as db:
            (await options(db, event_id)).auto_record = on
            audit.record(db, actor, event_id, "recording.auto", f"event:{event_id}", on=on)
        return {"auto_record": on}

    # -- stage events --------------------------------------------------------------------

    async def on_stage(self, event: StageEvent) -> None:
        event_id = keys.event_id_of_stage(event.stage_id)
        if event_id is None or event.kind == "stage.viewers":
            return
        async with self.platform.db.session() as db:
            row = await active_recording(db, event_id)
            auto = await db.get(RecordingOptions, event_id)
        if row is not None and row.id in self.clocks:
            clock = self.clocks[row.id]
            clock.resume() if event.live else clock.pause()
            await self.broadcast(event_id)
        elif row is None and event.live and auto is not None and auto.auto_record:
            await self._auto_start(event_id)

    async def _auto_start(self, event_id: int) -> None:
        try:
            await self.start_recording(None, event_id)
        except DomainError as exc:
            if exc.code != "recording.active":  # two live events racing is fine
                raise

    async def state(self, event_id: int) -> dict[str, Any]:
        async with self.platform.db.session() as db:
            row = await active_recording(db, event_id)
            auto = await db.get(RecordingOptions, event_id)
        clock = self.clocks.get(row.id) if row else None
        view = state_view(row, paused=bool(clock and clock.paused_since is not None))
        return {**view, "auto_record": bool(auto and auto.auto_record)}

    async def broadcast(self, event_id: int) -> None:
        """Tell every page of the event (participants included) whether the stage is recorded."""
        state = await self.state(event_id)
        await self.platform.sio.emit("recording.state", state, to=keys.event_room(event_id))
