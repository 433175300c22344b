"""Recording of an event's stage: start and stop (by a moderator or when the stage goes live
with auto-record on), chapter marks, the `recording.state` everyone sees, and retention.

Only the stage is ever recorded: this module asks the media engine for
`stage_for_event(event_id)` and nothing else, so breakout rooms have no path in here.
The file is the engine's fragmented MP4 (the packets viewers get, no extra encode);
the row in `recordings` says where it is and how it went.

Several nodes: the recorder runs where the stage's media is (the media node; `--no-media` web
nodes have no engine). A moderator's `recording.start`/`recording.stop` lands on a web node,
which asks that node over `RecordingBus` (Redis pub/sub, request and reply); chapter offsets
are asked of it too, so they are file time with every pause left out. Without Redis (one
node) everything stays in this process; a web node without media and without Redis answers
`recording.no_media_node` and changes nothing.
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

from server.platform import audit, keys
from server.platform.auth import Principal
from server.platform.errors import DomainError, NotFound, log_unexpected
from server.platform.models import Event, ProgrammeItem, utcnow
from server.platform.node import Key, Platform
from server.platform.node_bus import NodeRequests
from server.recording.models import (
    DEFAULT_RETENTION_DAYS,
    ChapterMark,
    Publication,
    Recording,
    RecordingOptions,
    RecordingPolicy,
)
from streaming import StageEvent, StreamingError
from streaming.publish import media_duration

PURGE_EVERY_SECONDS = 3600

COMMAND_CHANNEL = "tp:recording"
"""Redis channel on which nodes ask the node serving a stage to start, stop or report a
recording (RecordingBus)."""
PROBE_TIMEOUT = 2.0
STAGE_NODE_TTL = 24 * 3600


def stage_node_key(event_id: int) -> str:
    """Which node's engine last had the event's stage live (there the publisher is)."""
    return f"tp:recording:stage-node:{event_id}"


def paused_key(recording_id: int) -> str:
    """Set while the node recording it waits for the publisher to come back."""
    return f"tp:recording:{recording_id}:paused"


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
    return platform.need(SERVICE)


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
        offset_seconds=await _position(platform, row),
        title=title[:300],
        item_id=item_id,
        source=source,
    )
    db.add(mark)
    return mark


async def _position(platform: Platform, row: Recording) -> float:
    if platform.has(SERVICE):
        return await service(platform).position(row)
    return wall_position(row)


def wall_position(row: Recording) -> float:
    """Wall time since the start: the estimate when the recording node cannot be asked (it
    counts pauses as recorded time)."""
    return round(max(0.0, (utcnow() - row.started_at).total_seconds()), 3)


async def chapter_marks(db: AsyncSession, recording_id: int) -> list[ChapterMark]:
    rows = await db.scalars(
        select(ChapterMark)
        .where(ChapterMark.recording_id == recording_id)
        .order_by(ChapterMark.offset_seconds, ChapterMark.id)
    )
    return list(rows)


# -- retention ---------------------------------------------------------------------------


BUSY_OR_PUBLISHED = ("published", "queued", "running")
"""Publication states that keep a recording past the retention period: published, or a
publish job reading the file right now."""


async def purge_expired(
    db: AsyncSession, media_root: Path, now: datetime | None = None
) -> list[int]:
    """Delete recordings (file and row) older than the retention period, not published and
    with no publish job queued or running."""
    limit = (now or utcnow()) - timedelta(days=await retention_days(db))
    kept = select(Publication.recording_id).where(Publication.status.in_(BUSY_OR_PUBLISHED))
    rows = list(
        await db.scalars(
            select(Recording)
            .where(
                Recording.status != "recording",
                Recording.started_at < limit,
                Recording.id.not_in(kept),
            )
            .with_for_update()
        )
    )
    gone = []
    for row in rows:
        # Asked again after the lock: a publish queued while this purge waited for the row
        # (submit locks it too) has committed by now and is seen by this fresh statement.
        if await db.scalar(
            select(Publication.id).where(
                Publication.recording_id == row.id, Publication.status.in_(BUSY_OR_PUBLISHED)
            )
        ):
            continue
        (media_root / row.file_path).unlink(missing_ok=True)
        gone.append(row.id)
        await db.delete(row)
    return gone


# -- between nodes ------------------------------------------------------------------------

class RecordingBus(NodeRequests):
    """Request and reply between nodes (server/node_bus.py) on `COMMAND_CHANNEL`, which only
    nodes with a media engine hear. No listener at all is `recording.no_media_node`; no answer
    in time is `recording.media_unreachable`. Also the small shared facts: which node has the
    stage live, and whether a recording is paused.
    """

    def __init__(self, url: str, node_id: str, serves: bool) -> None:
        super().__init__(
            url, node_id, serves=serves, channel=COMMAND_CHANNEL,
            no_listener=(
                "recording.no_media_node",
                "Ingen medienod är igång: inspelningen kan inte styras just nu.",
            ),
            unreachable=(
                "recording.media_unreachable",
                "Medienoden svarade inte. Inspelningen är oförändrad; försök igen.",
            ),
        )

    async def node_alive(self, node_id: str) -> bool:
        return bool(await self._redis.exists(keys.node_alive_key(node_id)))

    async def stage_node(self, event_id: int) -> str | None:
        node = await self._redis.get(stage_node_key(event_id))
        return str(node) if node else None

    async def set_stage_node(self, event_id: int) -> None:
        await self._redis.set(stage_node_key(event_id), self._node, ex=STAGE_NODE_TTL)

    async def set_paused(self, recording_id: int, paused: bool) -> None:
        if paused:
            await self._redis.set(paused_key(recording_id), "1", ex=STAGE_NODE_TTL)
        else:
            await self._redis.delete(paused_key(recording_id))

    async def paused(self, recording_id: int) -> bool:
        return bool(await self._redis.exists(paused_key(recording_id)))


# -- the service ----------------------------------------------------------------------------


def no_media_node() -> DomainError:
    """No media engine here and no Redis to reach one (the bus's own refusal differs)."""
    return DomainError(
        "recording.no_media_node",
        "Den här servern har ingen mediemotor och når ingen medienod (REDIS_URL saknas): "
        "inspelningen styrs från medienoden.",
        key="recording.no_media_node.standalone",
    )


class RecordingService:
    """Owns this node's running recordings; started and stopped with the server.

    `start_recording` and `stop_recording` act here when this node records the stage, and
    otherwise ask the node that does over `bus` (see the module's docstring)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.clocks: dict[int, RecordingClock] = {}
        self._lock = asyncio.Lock()
        self._purge_task: asyncio.Task[None] | None = None
        settings = platform.settings
        self.bus: RecordingBus | None = (
            RecordingBus(settings.redis_url, settings.node_id, serves=platform.media.enabled)
            if settings.redis_url
            else None
        )

    @property
    def media_root(self) -> Path:
        return Path(self.platform.settings.media_root)

    @property
    def node_id(self) -> str:
        return self.platform.settings.node_id

    async def start(self) -> None:
        self.platform.media.subscribe(self.on_stage)
        async with self.platform.db.transaction() as db:
            await self._mark_interrupted(db)
        if self.bus is not None:
            await self.bus.start(self._command)
        self._purge_task = asyncio.create_task(self._purge_loop())

    async def stop(self) -> None:
        if self._purge_task:
            self._purge_task.cancel()
        for recording_id in list(self.clocks):
            try:
                await self._finish(recording_id, "stopped")
            except Exception as exc:  # shutting down: log and finish the others
                log_unexpected("recording.stop", exc)
        if self.bus is not None:
            await self.bus.stop()

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
        target = await self._stage_node(event_id)
        if target is None:
            return await self._start_here(event_id, actor)
        assert self.bus is not None
        by = actor.name if actor else "auto"
        state = await self.bus.request(target, "start", event_id=event_id, by=by)
        if actor:
            async with self.platform.db.transaction() as db:
                audit.record(
                    db, actor, event_id, "recording.start", f"recording:{state['recording_id']}"
                )
        return state

    async def _stage_node(self, event_id: int) -> str | None:
        """None: record here. Otherwise the node to ask ("" for any media node)."""
        if self.bus is not None:
            node = await self.bus.stage_node(event_id)
            if node and node != self.node_id and await self.bus.node_alive(node):
                return node
        if self.platform.media.enabled:
            return None
        if self.bus is None:
            raise no_media_node()
        return ""

    async def _start_here(
        self, event_id: int, actor: Principal | None, started_by: str | None = None
    ) -> dict[str, Any]:
        async with self._lock, self.platform.db.transaction() as db:
            event = await db.get(Event, event_id)
            if event is None:
                raise NotFound("event.not_found", "Evenemanget finns inte.")
            if await active_recording(db, event_id):
                raise DomainError("recording.active", "Scenen spelas redan in.")
            row, live = self._begin(event_id, started_by or (actor.name if actor else "auto"))
            db.add(row)
            await db.flush()
            self.clocks[row.id] = clock = RecordingClock()
            if not live:
                clock.pause()  # the recorder waits for the publisher's first key frame
            if event.current_item_id is not None:  # the item on stage now is chapter one
                item = await db.get(ProgrammeItem, event.current_item_id)
                if item is not None:
                    db.add(ChapterMark(recording_id=row.id, offset_seconds=0.0,
                                       title=item.title[:300], item_id=item.id))
            if actor:
                audit.record(db, actor, event_id, "recording.start", f"recording:{row.id}")
        await self._share(event_id, row.id)
        await self.broadcast(event_id)
        return state_view(row, paused=not live)

    def _begin(self, event_id: int, started_by: str) -> tuple[Recording, bool]:
        stage = self.platform.media.stage_for_event(event_id)
        try:
            path = Path(stage.start_recording())
        except StreamingError as exc:
            raise DomainError(exc.code, "Inspelningen kunde inte starta.",
                              key="recording.start_failed", reason=exc.message) from exc
        row = Recording(
            event_id=event_id,
            file_path=str(path.relative_to(self.media_root)),
            status="recording",
            node_id=self.node_id,
            started_by=started_by,
        )
        return row, stage.live

    async def _share(self, event_id: int, recording_id: int | None = None) -> None:
        """Tell the other nodes (through Redis) what only this one knows: it serves the
        stage, and whether the recording is paused."""
        if self.bus is None:
            return
        try:
            await self.bus.set_stage_node(event_id)
            if recording_id is not None:
                clock = self.clocks.get(recording_id)
                await self.bus.set_paused(recording_id, bool(clock and clock.paused_since))
        except Exception as exc:  # Redis down: this node's recording goes on regardless
            log_unexpected("recording.share", exc)

    async def stop_recording(self, actor: Principal | None, event_id: int) -> dict[str, Any]:
        async with self._lock, self.platform.db.session() as db:
            row = await active_recording(db, event_id)
        if row is None:
            raise DomainError("recording.not_active", "Scenen spelas inte in.")
        here = row.id in self.clocks or row.node_id == self.node_id or self.bus is None
        if here and row.id not in self.clocks and not self.platform.media.enabled:
            raise no_media_node()  # the row stays as it is: it may still record
        if here:
            await self._finish(row.id, "stopped", actor)
        else:
            assert self.bus is not None
            if await self.bus.node_alive(row.node_id):
                await self.bus.request(row.node_id, "stop", recording_id=row.id)
                if actor:
                    async with self.platform.db.transaction() as db:
                        audit.record(db, actor, event_id, "recording.stop", f"recording:{row.id}")
            else:  # its node is gone, and its recorder with it: keep the file as it is
                await self._finish(row.id, "interrupted", actor, engine=False)
        await self.broadcast(event_id)
        return state_view(None)

    async def _finish(
        self,
        recording_id: int,
        status: str,
        actor: Principal | None = None,
        engine: bool = True,
    ) -> None:
        self.clocks.pop(recording_id, None)
        async with self.platform.db.transaction() as db:
            row = await db.get(Recording, recording_id)
            if row is None or row.status != "recording":
                return
            if engine:
                try:
                    self.platform.media.stage_for_event(row.event_id).stop_recording()
                except StreamingError:
                    status = "interrupted"  # the engine lost it (stage closed): keep the file
            row.status, row.stopped_at = status, utcnow()
            row.duration_seconds = await self._duration(row)
            if actor:
                audit.record(db, actor, row.event_id, "recording.stop", f"recording:{row.id}")
        if self.bus is not None:
            try:
                await self.bus.set_paused(recording_id, False)
            except Exception as exc:
                log_unexpected("recording.share", exc)

    async def set_auto(self, actor: Principal, event_id: int, on: bool) -> dict[str, Any]:
        actor.require_moderator()
        async with self.platform.db.transaction() as db:
            (await options(db, event_id)).auto_record = on
            audit.record(db, actor, event_id, "recording.auto", f"event:{event_id}", on=on)
        return {"auto_record": on}

    # -- where the recording is ------------------------------------------------------------

    async def position(self, row: Recording) -> float:
        """Seconds into the recording now, measured where it is recorded."""
        if row.id in self.clocks:
            return self._local_position(row)
        if self.bus is not None and row.node_id and row.node_id != self.node_id:
            try:
                probe = await self.bus.request(
                    row.node_id, "probe", timeout=PROBE_TIMEOUT, recording_id=row.id
                )
                return round(float(probe["position"]), 3)
            except DomainError as exc:
                log_unexpected("recording.probe", exc)
        return wall_position(row)

    def _local_position(self, row: Recording) -> float:
        """The recorder's own file time (pauses excluded); the clock if the stage is gone."""
        try:
            recorded = self.platform.media.stage_for_event(row.event_id).recording_position
        except StreamingError:
            recorded = None
        if recorded is None:
            return round(self.clocks[row.id].position(), 3)
        return round(float(recorded), 3)

    async def _command(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """What another node asks of this one (RecordingBus)."""
        if kind == "start":
            return await self._start_here(int(data["event_id"]), None, str(data["by"])[:120])
        recording_id = int(data["recording_id"])
        async with self.platform.db.session() as db:
            row = await db.get(Recording, recording_id)
        if row is None or (recording_id not in self.clocks and row.node_id != self.node_id):
            raise DomainError("recording.not_here", "Inspelningen görs inte på denna nod.")
        if kind == "stop":
            await self._finish(recording_id, "stopped")
            await self.broadcast(row.event_id)
            return state_view(None)
        if kind == "probe":
            clock = self.clocks.get(recording_id)
            position = self._local_position(row) if clock else wall_position(row)
            return {"position": position, "paused": bool(clock and clock.paused_since)}
        raise DomainError("payload.invalid", f"Okänt kommando: {kind}",
                          key="payload.invalid.command", kind=kind)

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
            await self._share(event_id, row.id)
            await self.broadcast(event_id)
        elif row is None and event.live and auto is not None and auto.auto_record:
            await self._auto_start(event_id)
        elif event.live:
            await self._share(event_id)

    async def _auto_start(self, event_id: int) -> None:
        try:
            await self._start_here(event_id, None)  # the stage went live on this node
        except DomainError as exc:
            if exc.code != "recording.active":  # two live events racing is fine
                raise

    async def state(self, event_id: int) -> dict[str, Any]:
        async with self.platform.db.session() as db:
            row = await active_recording(db, event_id)
            auto = await db.get(RecordingOptions, event_id)
        clock = self.clocks.get(row.id) if row else None
        if clock is not None:
            paused = clock.paused_since is not None
        elif row is not None and self.bus is not None:
            paused = await self.bus.paused(row.id)
        else:
            paused = False
        view = state_view(row, paused=paused)
        return {**view, "auto_record": bool(auto and auto.auto_record)}

    async def broadcast(self, event_id: int) -> None:
        """Tell every page of the event (participants included) whether the stage is recorded."""
        state = await self.state(event_id)
        await self.platform.sio.emit("recording.state", state, to=keys.event_room(event_id))


SERVICE = Key("recording.service", RecordingService)
