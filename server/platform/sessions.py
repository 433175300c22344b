"""Server-side web sessions (issue 19): who a browser is signed in as lives in the database,
not in the cookie. The signed cookie carries only a random token; the row is keyed by the
token's SHA-256. Logging out deletes the row, so a copied cookie is worth nothing afterwards;
a password change or an admin ends every session of a person at once (`end_all`). Staff
sessions also end after `staff_idle_minutes` without a request and after
`staff_session_hours` in all; a participant's (opened from the personal join link) after
`participant_session_days`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.models import WebSession, utcnow
from server.platform.settings import Settings

TOUCH_EVERY = timedelta(seconds=60)
"""How stale `last_seen_at` may get before a request writes it again (one write a minute per
browser, not one per request)."""


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def start(
    db: AsyncSession, settings: Settings, *, user_id: int | None = None,
    registration_id: int | None = None,
) -> str:
    """A new session for a staff user or a participant; the token for the cookie."""
    now = utcnow()
    life = (timedelta(hours=settings.staff_session_hours) if user_id is not None
            else timedelta(days=settings.participant_session_days))
    token = secrets.token_urlsafe(32)
    await db.execute(delete(WebSession).where(WebSession.expires_at < now))
    db.add(WebSession(id=session_id(token), user_id=user_id, registration_id=registration_id,
                      created_at=now, last_seen_at=now, expires_at=now + life))
    return token


def alive(row: WebSession, settings: Settings, now: datetime) -> bool:
    if row.expires_at <= now:
        return False
    idle = timedelta(minutes=settings.staff_idle_minutes)
    return row.user_id is None or now - row.last_seen_at < idle


async def load(db: AsyncSession, settings: Settings, token: object) -> WebSession | None:
    """The live session the token names, or None (unknown, ended, expired or idle)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = await db.get(WebSession, session_id(token))
    now = utcnow()
    if row is None or not alive(row, settings, now):
        return None
    return row


def due_for_touch(row: WebSession) -> bool:
    return utcnow() - row.last_seen_at >= TOUCH_EVERY


async def touch(db: AsyncSession, row: WebSession) -> None:
    """Record that the session was used (callers ask `due_for_touch` first)."""
    await db.execute(update(WebSession).where(WebSession.id == row.id)
                     .values(last_seen_at=utcnow()))


async def end(db: AsyncSession, token: object) -> None:
    if isinstance(token, str):
        await db.execute(delete(WebSession).where(WebSession.id == session_id(token)))


async def end_every(db: AsyncSession, *, user_id: int | None = None,
                    registration_id: int | None = None) -> list[str]:
    """End every session of a staff user (password changed, removed) or a participant (a new
    join link, deleted); their ids, so the caller can end their sockets once it commits
    (`web.end_sockets_of`)."""
    column = WebSession.user_id if user_id is not None else WebSession.registration_id
    ident = user_id if user_id is not None else registration_id
    ids = list(await db.scalars(select(WebSession.id).where(column == ident)))
    await db.execute(delete(WebSession).where(column == ident))
    return ids


async def end_all(db: AsyncSession, *, user_id: int | None = None,
                  registration_id: int | None = None) -> int:
    """`end_every`, counted."""
    return len(await end_every(db, user_id=user_id, registration_id=registration_id))
