"""Live captions of the stage (direkttextning): a speech-to-text interpreter types, everyone
watching sees the line on the video at once, and the archive gets the lines as WebVTT.

A captioner is a staff user with the role `captioner` (or a moderator or admin); they type on
`/e/<slug>/captions`, one line per Enter. Each line is cleaned (whitespace folded, control
characters dropped, 1-300 characters), stored, and sent to everyone in the event as
`captions.line`. Players show it as a native text track on the stage video (so it follows the
video into full screen and the browser's caption style), and the live page keeps a transcript.

For the publication a recording's lines become a WebVTT file in recording time (the file's
clock starts at `Recording.started_at`). A line is shown from when it was sent until the next
one, at most LINE_SECONDS; what the captioner typed lags the speech by a few seconds, and time
the recorder paused for a dropped publisher is not taken out, so the archivist checks the file
before publishing it (it is offered, never applied by itself).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.captions.models import CaptionLine
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden
from server.platform.models import utcnow
from server.platform.store import Store, require_rate
from server.recording.models import Recording
from streaming.publish import text_vtt

MAX_TEXT = 300
RECENT = 50
LINE_SECONDS = 6.0
RATE_LIMIT = 30  # lines per window and captioner: a fast interpreter sends one every 2-3 s
RATE_WINDOW = 10
CAPTIONING = frozenset({"captioner", "moderator", "admin"})


def may_caption(principal: Principal) -> bool:
    return principal.kind == "user" and principal.role in CAPTIONING


def require_captioner(principal: Principal) -> None:
    if not may_caption(principal):
        raise Forbidden("Bara skrivtolkar och moderatorer kan skicka textning.",
                        key="auth.forbidden.captioners_only")


def clean_text(text: str) -> str:
    """One line of caption text: whitespace folded to single spaces, control and format
    characters dropped (they would break a WebVTT cue or hide text), then 1-300 characters."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace())
    line = " ".join(kept.split())
    if not 1 <= len(line) <= MAX_TEXT:
        raise DomainError(
            "captions.text_invalid", f"En textrad måste ha 1–{MAX_TEXT} tecken.", max=MAX_TEXT)
    return line


async def check_rate(store: Store, principal: Principal) -> None:
    await require_rate(store, "captions", principal, RATE_LIMIT, RATE_WINDOW,
                       "captions.rate_limited", "För många rader på kort tid. Vänta en stund.")


async def add_line(
    db: AsyncSession, principal: Principal, event_id: int, text: str
) -> dict[str, Any]:
    require_captioner(principal)
    line = CaptionLine(event_id=event_id, text=clean_text(text), author_user_id=principal.id,
                       created_at=utcnow())
    db.add(line)
    await db.flush()
    return line_view(line)


async def recent(db: AsyncSession, event_id: int, limit: int = RECENT) -> list[dict[str, Any]]:
    """The event's latest lines, oldest first (the live page's transcript)."""
    rows = await db.scalars(
        select(CaptionLine).where(CaptionLine.event_id == event_id)
        .order_by(CaptionLine.id.desc()).limit(limit))
    return [line_view(row) for row in reversed(list(rows))]


async def current(db: AsyncSession, event_id: int) -> dict[str, Any] | None:
    """The line being read now (sent within LINE_SECONDS), for the hall's presenter screen."""
    latest = await db.scalar(
        select(CaptionLine).where(CaptionLine.event_id == event_id)
        .order_by(CaptionLine.id.desc()).limit(1))
    if latest is None or (utcnow() - latest.created_at).total_seconds() > LINE_SECONDS:
        return None
    return line_view(latest)


async def export_rows(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """Every line of the event, in order, for the day's record (the archival package)."""
    rows = await db.scalars(
        select(CaptionLine).where(CaptionLine.event_id == event_id).order_by(CaptionLine.id))
    return [line_view(row) for row in rows]


def line_view(line: CaptionLine) -> dict[str, Any]:
    return {"id": line.id, "text": line.text, "at": line.created_at.isoformat()}


async def recording_lines(db: AsyncSession, recording: Recording) -> list[CaptionLine]:
    end = recording.stopped_at or utcnow()
    rows = await db.scalars(
        select(CaptionLine)
        .where(CaptionLine.event_id == recording.event_id,
               CaptionLine.created_at >= recording.started_at, CaptionLine.created_at <= end)
        .order_by(CaptionLine.created_at, CaptionLine.id))
    return list(rows)


def lines_vtt(lines: list[CaptionLine], started_at: datetime) -> str | None:
    """The lines as WebVTT in recording time; None when there are none."""
    starts = [(line.created_at - started_at).total_seconds() for line in lines]
    timed = []
    for index, (start, line) in enumerate(zip(starts, lines, strict=True)):
        following = starts[index + 1] if index + 1 < len(starts) else start + LINE_SECONDS
        end = min(start + LINE_SECONDS, following)
        timed.append((start, max(end, start + 0.1), line.text))
    return text_vtt(timed) if timed else None


async def recording_vtt(db: AsyncSession, recording: Recording) -> str | None:
    return lines_vtt(await recording_lines(db, recording), recording.started_at)
