"""Tables of the webcast: one stage per event and the hash of its publishing token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime


class StageRow(Base):
    """The event's stage. Only a hash of the WHIP bearer token is kept: a token is shown once,
    when a moderator creates or rotates it, and a database leak cannot publish."""

    __tablename__ = "stages"
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str | None] = mapped_column(String(64))
    rotated_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    rotated_by: Mapped[str] = mapped_column(String(120), default="")
