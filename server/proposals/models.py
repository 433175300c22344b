"""A proposal to KB after a Träffpunkt: content for the next one, or a report or example of
national interest; KB's review of it; the programme item it became."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

KINDS = ("content", "report")
STATES = ("new", "considering", "accepted", "declined")


class Proposal(Base):
    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    """The Träffpunkt it follows (the cycle it belongs to)."""
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    theme_key: Mapped[str] = mapped_column(String(80), default="")
    proposer: Mapped[str] = mapped_column(String(120))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    municipality: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    document_name: Mapped[str] = mapped_column(String(200), default="")
    document_kind: Mapped[str] = mapped_column(String(10), default="")
    document_path: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(12), default="new")
    note: Mapped[str] = mapped_column(Text, default="")
    """KB's note back to the proposer."""
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_items.id", ondelete="SET NULL"))
    """The programme item an accepted content proposal became."""
    item_event_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    reviewed_by: Mapped[str] = mapped_column(String(120), default="")
