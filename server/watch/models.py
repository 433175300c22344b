"""What a room is watching together: one row per room, the film and where it stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow


class WatchSession(Base):
    """The shared player of one room. `position` was the film's time at `updated_at`; while
    `playing`, everyone's player is at `position + (now - updated_at)`."""

    __tablename__ = "watch_sessions"
    room_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rooms.id", ondelete="CASCADE"), primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"))
    position: Mapped[float] = mapped_column(Float, default=0.0)
    playing: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120), default="")
