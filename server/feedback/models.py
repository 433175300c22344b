"""Tables of the regional feedback: the form per event, one response per region, facilitators,
and individual ratings of the day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

RESPONSE_STATES = ("draft", "submitted")


class FeedbackForm(Base):
    """The event's form (a list of field definitions) and the deadline moderators set."""

    __tablename__ = "feedback_forms"
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deadline: Mapped[datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class FeedbackResponse(Base):
    """The one response of a region to an event. `version` grows with every stored change, so a
    stale autosave (an older version) is refused instead of overwriting a newer one."""

    __tablename__ = "feedback_responses"
    __table_args__ = (UniqueConstraint("event_id", "region_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(120), default="")
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    submitted_by: Mapped[str] = mapped_column(String(120), default="")
    submitted_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    # A save or submit that arrived after the deadline: kept for KB, never merged silently.
    late_answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    late_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class FeedbackFacilitator(Base):
    """Who may submit a region's response: a registration or a staff user (role facilitator)."""

    __tablename__ = "feedback_facilitators"
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    set_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class FeedbackRating(Base):
    """One participant's rating of the day. `rater_key` is a keyed hash of the registration, so
    a participant rates once (and may change it) even when anonymous; `registration_id` and
    `region_code` are stored only for named ratings."""

    __tablename__ = "feedback_ratings"
    __table_args__ = (UniqueConstraint("event_id", "rater_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    rater_key: Mapped[str] = mapped_column(String(64))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    day: Mapped[int] = mapped_column(Integer)
    accessibility: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class FeedbackAttachment(Base):
    """A document a region attaches to its response (PDF, DOCX or ODT, checked and capped:
    feedback/documents.py); the file lives under the media root, its name is ours."""

    __tablename__ = "feedback_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    filename: Mapped[str] = mapped_column(String(200))
    """The name the uploader's file had, cleaned (shown, and given back on download)."""
    kind: Mapped[str] = mapped_column(String(10))  # pdf, docx, odt
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))  # relative to the media root
    uploaded_by: Mapped[str] = mapped_column(String(120), default="")
    uploaded_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class RegionQuestion(Base):
    """A question a region adds for its municipalities, besides the event's form."""

    __tablename__ = "feedback_region_questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    text: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class MunicipalFeedback(Base):
    """A municipality's short feedback to its region: answers to the region's own questions
    and a few words of its own. One per municipality and region; a later save replaces it."""

    __tablename__ = "feedback_municipal"
    __table_args__ = (UniqueConstraint("event_id", "region_code", "municipality"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    municipality: Mapped[str] = mapped_column(String(120))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Region question id (as text) -> answer."""
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(120), default="")
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

