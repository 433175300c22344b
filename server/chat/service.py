"""Text chat inside a breakout room: stored, length-checked, rate-limited.

Who may read or write is the one membership rule (server/membership.py room_access), checked
by the caller. Text is stored as typed and always shown as text (Jinja autoescape, textContent
in the browser), never as HTML.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutRoom, BreakoutRound
from server.chat.models import ChatMessage
from server.platform.auth import Principal
from server.platform.errors import DomainError
from server.platform.store import Store, require_rate

MAX_TEXT = 1000
HISTORY = 100
RATE_LIMIT = 10  # messages per window and person
RATE_WINDOW = 10  # seconds


def clean_text(text: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise DomainError(
            "chat.text_invalid", f"Meddelandet måste ha 1–{MAX_TEXT} tecken.", max=MAX_TEXT
        )
    return text


async def check_rate(store: Store, principal: Principal) -> None:
    await require_rate(store, "chat", principal, RATE_LIMIT, RATE_WINDOW, "chat.rate_limited",
                       "Du skickar för många meddelanden. Vänta en stund.")


async def send(
    db: AsyncSession, principal: Principal, room: BreakoutRoom, text: str
) -> ChatMessage:
    """Store one message in a room whose round is open (a closed round's chat is read-only)."""
    text = clean_text(text)
    rnd = await db.get(BreakoutRound, room.round_id)
    if rnd is None or rnd.status != "open":
        raise DomainError("chat.closed", "Grupprummet är stängt; chatten kan bara läsas.")
    message = ChatMessage(
        room_id=room.id,
        author_name=principal.name,
        text=text,
        registration_id=principal.id if principal.kind == "participant" else None,
        user_id=principal.id if principal.kind == "user" else None,
    )
    db.add(message)
    await db.flush()
    return message


async def history(db: AsyncSession, room_id: int, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The latest messages of a room, oldest first."""
    rows = await db.scalars(
        select(ChatMessage)
        .where(ChatMessage.room_id == room_id)
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return [message_view(m) for m in reversed(list(rows))]


def message_view(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "room_id": message.room_id,
        "author": message.author_name,
        "staff": message.user_id is not None,
        "text": message.text,
        "at": message.created_at.isoformat(),
    }


async def forget_author(db: AsyncSession, registration_id: int) -> None:
    """A registration is deleted: its messages stay in the room's history, without the name."""
    await db.execute(update(ChatMessage).where(ChatMessage.registration_id == registration_id)
                     .values(author_name="", registration_id=None))
