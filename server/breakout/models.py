"""Breakout rounds, rooms, assignments and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

ROUND_STATES = ("planned", "open", "closed")


class BreakoutRound(Base):
    """One round of regional discussions in an event. At most one day round is open at a
    time."""

    __tablename__ = "breakout_rounds"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="planned")
    kind: Mapped[str] = mapped_column(String(10), default="day", server_default="day")
    """"day": a round of the webcast day, opened by moderators (at most one open at a time);
    "followup": the one room of a regional follow-up meeting (server/followup), which lives
    beside them and is never the day's open or latest round."""
    grouping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    broadcast: Mapped[str] = mapped_column(String(500), default="")


class BreakoutRoom(Base):
    __tablename__ = "breakout_rooms"
    __table_args__ = (UniqueConstraint("round_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rounds.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    facilitator_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"))
    media: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class BreakoutAssignment(Base):
    """Who is in which room of a round: the source of truth after a restart or reconnect."""

    __tablename__ = "breakout_assignments"
    round_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rounds.id", ondelete="CASCADE"), primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rooms.id", ondelete="CASCADE"), index=True
    )


class BreakoutTemplate(Base):
    """A saved grouping, reused at the next meeting."""

    __tablename__ = "breakout_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    grouping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
