"""The outbox: every mail the platform sends is first a row here, written in the same
transaction as what it is about (a registration and its confirmation commit together, or
neither), then sent by the outbox's sender (server/mail/sender.py). A restart or an SMTP outage
loses nothing: what was not sent is still here, due again after its backoff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.platform.models import Base, TZDateTime, utcnow

MAIL_STATES = ("queued", "sent", "failed")
MAIL_KINDS = ("confirmation", "link", "link_request", "reminder", "update", "invitation", "reset")


class OutboxMessage(Base):
    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    """Whom it is about: a deleted registration takes its unsent (and sent) mail with it."""
    kind: Mapped[str] = mapped_column(String(20))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    calendar: Mapped[str | None] = mapped_column(Text)
    """An iCalendar invitation (text/calendar; method=REQUEST) sent as an attachment."""
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(TZDateTime())
    """A node sending it holds it until then; another node takes it only after (a node that
    died while sending leaves it to the next)."""
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(TZDateTime())
