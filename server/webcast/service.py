"""The webcast: one stage per event, its publishing token, who may publish and watch, and the
`webcast.state` broadcast. Never sees a request or a socket; views and socket handlers call it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit, keys
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden
from server.platform.models import utcnow
from server.platform.node import Key, Platform
from server.webcast.models import StageRow
from streaming import Stage, StageEvent, StreamingError
from streaming.sdp import validate_offer

# A viewer joining or leaving (WebRTC session or HLS player) changes the count; with hundreds
# arriving at once the event room hears one `webcast.state` per second at most. Going live or
# offline is sent at once.
VIEWER_COUNT_INTERVAL = 1.0

def new_token() -> str:
    """A publishing token: 256 random bits, so a fast hash is as safe as a slow one."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def as_domain_error(exc: StreamingError) -> DomainError:
    """The engine's typed error as ours (its status is in server/platform/errors.STATUS)."""
    return DomainError(exc.code, exc.message, reason=exc.message)


# -- who may do what ----------------------------------------------------------------------


def may_watch(principal: Principal | None, event_id: int) -> bool:
    """Participants of the event and staff watch the stage (and read its HLS files)."""
    return principal is not None and (principal.is_staff or principal.event_id == event_id)


def require_watcher(principal: Principal | None, event_id: int) -> Principal:
    if principal is None:
        raise DomainError("auth.required", "Logga in eller anmäl dig för att se sändningen.",
                          key="auth.required.watch")
    if not may_watch(principal, event_id):
        raise Forbidden("Du är inte anmäld till detta evenemang.",
                        key="auth.forbidden.not_registered")
    return principal


def require_hls_reader(principal: Principal | None, stage: str, secret: str) -> int:
    """Who may read the HLS files under `/media/hls/<stage>/`: the one check behind both the
    app's own route and nginx's `auth_request`. Returns the stage's event id. A stage id that
    is not one this node made (a guessed neighbour, an old secret) is `not_found`, whoever asks."""
    event_id = keys.event_id_of_stage(stage)
    if event_id is None or not hmac.compare_digest(stage, keys.stage_id(event_id, secret)):
        raise DomainError("not_found", "Ingen sådan fil.", key="not_found.file")
    require_watcher(principal, event_id)
    return event_id


def require_producer(principal: Principal | None) -> Principal:
    if principal is None:
        raise DomainError("auth.required", "Logga in som moderator för att sända.",
                          key="auth.required.produce")
    principal.require_moderator()
    return principal


# -- the publishing token --------------------------------------------------------------------


async def rotate_token(db: AsyncSession, actor: Principal, event_id: int) -> tuple[str, datetime]:
    """A new token for the event's stage; the old one stops working at once. Returns the token:
    the only time it exists outside the caller's memory is this return value."""
    actor.require_moderator()
    token, now = new_token(), utcnow()
    row = await db.get(StageRow, event_id)
    if row is None:
        row = StageRow(event_id=event_id)
        db.add(row)
    row.token_hash, row.rotated_at, row.rotated_by = hash_token(token), now, actor.name
    audit.record(db, actor, event_id, "webcast.rotate_token", f"stage:{event_id}")
    return token, now


async def token_matches(db: AsyncSession, event_id: int, token: str) -> bool:
    row = await db.get(StageRow, event_id)
    if row is None or row.token_hash is None:
        return False
    return hmac.compare_digest(row.token_hash, hash_token(token))


async def token_info(db: AsyncSession, event_id: int) -> dict[str, Any]:
    """What moderators see about the token (never the token itself)."""
    row = await db.get(StageRow, event_id)
    rotated = row.rotated_at if row is not None and row.token_hash else None
    return {
        "has_token": rotated is not None,
        "rotated_at": rotated.isoformat() if rotated else None,
        "rotated_by": row.rotated_by if row is not None and rotated else "",
    }


# -- where browsers and OBS find the stage ---------------------------------------------------


@dataclass(frozen=True)
class StageUrls:
    whip: str
    whep: str
    hls: str

    def as_dict(self) -> dict[str, str]:
        return {"whip": self.whip, "whep": self.whep, "hls": self.hls}


def stage_urls(media_base: str, slug: str, stage_id: str) -> StageUrls:
    """WHIP/WHEP by the event's slug (readable in OBS); HLS by the stage id (its folder, which
    nobody can derive from the event id: `keys.stage_id`)."""
    base = media_base.rstrip("/")
    return StageUrls(
        whip=f"{base}/whip/{slug}",
        whep=f"{base}/whep/{slug}",
        hls=f"{base}/media/hls/{stage_id}/index.m3u8",
    )


# -- state and its broadcast -------------------------------------------------------------------


def stage_state(platform: Platform, event_id: int) -> dict[str, Any]:
    """Live or not, and how many watch (WebRTC sessions + HLS players), as this node's engine
    knows it."""
    if not platform.media.enabled:
        return {"live": None, "viewer_count": None, "webrtc_viewers": None, "hls_viewers": None}
    stage_id = platform.media.stage_id(event_id)
    stage = next((s for s in platform.media.engine.stages if s.stage_id == stage_id), None)
    if stage is None:
        return {"live": False, "viewer_count": 0, "webrtc_viewers": 0, "hls_viewers": 0}
    webrtc, hls = stage.webrtc_viewer_count, stage.hls_viewer_count
    return {"live": stage.live, "viewer_count": webrtc + hls, "webrtc_viewers": webrtc,
            "hls_viewers": hls}


def viewer_owner(principal: Principal) -> str:
    """Whose HLS player this is: one person counts a bounded number of players."""
    return f"{principal.kind}:{principal.id}"


class WhepSessions:
    """Each person's WHEP sessions on this node's stages: at most `per_person` on a stage.

    A further offer ends that person's oldest session instead of being refused: a viewer who
    reloads the page (its DELETE lost) keeps watching, and one person still never holds more
    than `per_person` places under the stage's viewer cap. One person's offers on a stage are
    answered one at a time, so concurrent offers cannot slip past the count.
    """

    def __init__(self, per_person: int) -> None:
        self.per_person = max(1, per_person)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    async def open(self, stage: Stage, owner: str, offer: str) -> tuple[str, str]:
        """`stage.view(offer)` for `owner`, after ending what is past their allowance."""
        validate_offer(offer, "view")  # a bad offer must not cost anyone a session
        key = (stage.stage_id, owner)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with self._locks.setdefault(key, asyncio.Lock()):
                await self._make_room(stage, owner)
                return await stage.view(offer, owner)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    async def _make_room(self, stage: Stage, owner: str) -> None:
        held = stage.viewer_sessions(owner)
        for session_id in held[: max(0, len(held) - self.per_person + 1)]:
            with contextlib.suppress(StreamingError):  # it ended meanwhile
                await stage.stop_view(session_id)


WHEP_SESSIONS = Key("webcast.whep_sessions", WhepSessions)


class StageBroadcaster:
    """Turns the engine's StageEvents into `webcast.state` for the event's room.

    With Redis the emit reaches every web node, so a media node needs no web clients of its own.
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._latest: dict[int, StageEvent] = {}
        self._scheduled: set[int] = set()

    def install(self) -> None:
        self._platform.media.subscribe(self.on_event)

    async def on_event(self, event: StageEvent) -> None:
        event_id = keys.event_id_of_stage(event.stage_id)
        if event_id is None:
            return  # a breakout room's stage, not a webcast
        self._latest[event_id] = event
        if event.kind != "stage.viewers":
            await self._send(event_id)
        elif event_id not in self._scheduled:
            self._scheduled.add(event_id)
            await asyncio.sleep(VIEWER_COUNT_INTERVAL)
            self._scheduled.discard(event_id)
            await self._send(event_id)

    async def _send(self, event_id: int) -> None:
        event = self._latest[event_id]
        payload = {"live": event.live, "viewer_count": event.viewer_count,
                   "webrtc_viewers": event.webrtc_viewers, "hls_viewers": event.hls_viewers}
        await self._platform.sio.emit("webcast.state", payload, to=keys.event_room(event_id))
