"""The notes log of each breakout room: Yjs updates in arrival order and compacted snapshots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow


class NoteUpdate(Base):
    """One stored Yjs update of a room's notes, in arrival order."""

    __tablename__ = "note_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rooms.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class NoteSnapshot(Base):
    """A room's compacted notes; `upto` is its version, compare-and-swap for compactions."""

    __tablename__ = "note_snapshots"
    room_id: Mapped[int] = mapped_column(
        ForeignKey("breakout_rooms.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    upto: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
