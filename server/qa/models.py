"""Questions and their votes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

QUESTION_STATES = ("pending", "approved", "rejected", "answered", "merged")


class Question(Base):
    __tablename__ = "questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )
    author_name: Mapped[str] = mapped_column(String(120), default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(String(500))
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_items.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(10), default="pending")
    reject_reason: Mapped[str] = mapped_column(String(300), default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class QuestionVote(Base):
    __tablename__ = "question_votes"
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
