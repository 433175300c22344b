"""Live polls of an event (server/polls.py): the question, its options, and one vote per person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow


class Poll(Base):
    __tablename__ = "polls"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(String(200))
    options: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft, open, closed
    on_screen: Mapped[bool] = mapped_column(Boolean, default=False)  # the presenter view shows it
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(TZDateTime())


class PollVote(Base):
    __tablename__ = "poll_votes"
    poll_id: Mapped[int] = mapped_column(
        ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True)
    option: Mapped[int] = mapped_column(Integer)
    voted_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
