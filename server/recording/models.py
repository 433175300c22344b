"""Tables of recording and publication: recordings of the stage, their chapter marks,
speakers' consent, publications (the archivist's edit and the publish job's state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

RECORDING_STATES = ("recording", "stopped", "interrupted")
PUBLICATION_STATES = ("draft", "queued", "running", "published", "failed")
DEFAULT_RETENTION_DAYS = 90


class RecordingOptions(Base):
    """Per event: record automatically when the stage goes live."""

    __tablename__ = "recording_options"
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    auto_record: Mapped[bool] = mapped_column(Boolean, default=False)


class RecordingPolicy(Base):
    """Site-wide (one row, id 1): days an unpublished recording is kept, set by an admin."""

    __tablename__ = "recording_policy"
    id: Mapped[int] = mapped_column(primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_RETENTION_DAYS)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Recording(Base):
    """One recording of an event's stage: a fragmented MP4 under the media root."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    file_path: Mapped[str] = mapped_column(String(500))  # relative to the media root
    status: Mapped[str] = mapped_column(String(12), default="recording")
    node_id: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    started_by: Mapped[str] = mapped_column(String(120), default="")


class ChapterMark(Base):
    """A moment in a recording: the programme moved on, or a moderator marked it."""

    __tablename__ = "recording_chapter_marks"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    offset_seconds: Mapped[float] = mapped_column(Float)
    title: Mapped[str] = mapped_column(String(300))
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_items.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(10), default="programme")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Publication(Base):
    """The archivist's edit of one recording and the state of its publish job: the whole day
    (`parent_id` None, one per recording), or one programme item's film cut from it (`parent_id`
    the day's publication, `item_id` the item; None once the item is gone from the programme,
    the film stays)."""

    __tablename__ = "publications"
    __table_args__ = (
        Index("uq_publications_day", "recording_id", unique=True,
              postgresql_where=text("parent_id IS NULL"), sqlite_where=text("parent_id IS NULL")),
        UniqueConstraint("parent_id", "item_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_items.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    speakers: Mapped[list[str]] = mapped_column(JSON, default=list)
    chapters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trim_in: Mapped[float] = mapped_column(Float, default=0.0)
    trim_out: Mapped[float | None] = mapped_column(Float)
    poster_at: Mapped[float | None] = mapped_column(Float)
    captions_vtt: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="sv")
    rights: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str] = mapped_column(String(20), default="")
    error_code: Mapped[str] = mapped_column(String(60), default="")
    error_message: Mapped[str] = mapped_column(String(500), default="")
    output_dir: Mapped[str] = mapped_column(String(500), default="")
    published_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    # Who last saved the edit form; never saved by a person (None), the draft follows the marks.
    edited_by: Mapped[str] = mapped_column(String(120), default="")
    edited_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    # An archivist's confirmation that no identifiable speaker appears (only with no speakers).
    no_speakers_by: Mapped[str] = mapped_column(String(120), default="")
    no_speakers_at: Mapped[datetime | None] = mapped_column(TZDateTime())


class SpeakerConsent(Base):
    """A speaker's consent to publication, confirmed by a staff member (who, when)."""

    __tablename__ = "speaker_consents"
    __table_args__ = (UniqueConstraint("publication_id", "speaker_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    speaker_name: Mapped[str] = mapped_column(String(120))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_by: Mapped[str] = mapped_column(String(120))
    confirmed_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
