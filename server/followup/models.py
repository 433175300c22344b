"""A region's (or several regions') follow-up meeting after the webcast: its date, agenda and
invitation link; its room is a breakout room of a round of its own (`BreakoutRound.kind`
"followup"), so media, chat and notes per theme are the breakout machinery's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

MEETING_STATES = ("scheduled", "closed", "cancelled")


class FollowUpMeeting(Base):
    __tablename__ = "followup_meetings"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(TZDateTime())
    ends_at: Mapped[datetime] = mapped_column(TZDateTime())
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The regions holding it (several: a joint meeting across county borders)."""
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    """The agenda: programme items to watch and discuss, in programme order."""
    theme_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The agenda's §18 themes (their notes in the room)."""
    round_id: Mapped[int] = mapped_column(ForeignKey("breakout_rounds.id", ondelete="CASCADE"))
    room_id: Mapped[int] = mapped_column(ForeignKey("breakout_rooms.id", ondelete="CASCADE"))
    invite_key: Mapped[str] = mapped_column(String(64), unique=True)
    """The meeting's link for the municipalities' participants (a shared link, like a meeting
    URL; a facilitator can issue a new one, which ends the old)."""
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
