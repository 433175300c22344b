"""The data model: everything that must survive a restart lives in these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RETENTION_MONTHS = 12
"""How long after its event a registration is kept by default (server/registrations)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class TZDateTime(TypeDecorator[datetime]):
    """Timezone-aware everywhere: stored as UTC; SQLite's naive values come back marked UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Region(Base):
    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="draft", server_default="published")
    """draft (only staff see it), published, archived (shown, no registration)."""
    starts_at: Mapped[datetime] = mapped_column(TZDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    current_item_id: Mapped[int | None] = mapped_column(Integer)
    qa_open: Mapped[bool] = mapped_column(Boolean, default=True)
    qa_premoderation: Mapped[bool] = mapped_column(Boolean, default=True)
    qa_allow_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    qa_on_screen_id: Mapped[int | None] = mapped_column(Integer)
    qa_version: Mapped[int] = mapped_column(Integer, default=0)
    # Registration: opens and closes at these times (None: open from publication, until the
    # start), at most `registration_cap` people (None: no cap); with `confirm_email` a
    # registration counts only once its address is confirmed (the join link in the mail).
    registration_opens_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    registration_closes_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    registration_cap: Mapped[int | None] = mapped_column(Integer)
    confirm_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    retention_months: Mapped[int] = mapped_column(
        Integer, default=RETENTION_MONTHS, server_default=str(RETENTION_MONTHS))
    """Registrations are anonymised this long after the event (server/registrations)."""
    schedule_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Goes up when the event's time or place changes: the SEQUENCE of its calendar invitation
    (a calendar replaces the entry it holds with the newer one)."""
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    items: Mapped[list[ProgrammeItem]] = relationship(
        order_by="ProgrammeItem.position", cascade="all, delete-orphan"
    )
    themes: Mapped[list[Theme]] = relationship(
        order_by="Theme.position", cascade="all, delete-orphan"
    )


class Theme(Base):
    """One of the event's §18 themes: a section of every room's notes."""

    __tablename__ = "themes"
    __table_args__ = (UniqueConstraint("event_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Speaker(Base):
    __tablename__ = "speakers"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")


class ProgrammeItemSpeaker(Base):
    __tablename__ = "programme_item_speakers"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("programme_items.id", ondelete="CASCADE"), primary_key=True
    )
    speaker_id: Mapped[int] = mapped_column(
        ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    speaker: Mapped[Speaker] = relationship(lazy="joined")


class ProgrammeItem(Base):
    __tablename__ = "programme_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    # Organisations of the item besides its speakers' own (e.g. who wrote a report presented).
    organisations: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    # Material the item points to: [{"label": ..., "url": "https://..."}] (reports, handbooks).
    materials: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    links: Mapped[list[ProgrammeItemSpeaker]] = relationship(
        order_by="ProgrammeItemSpeaker.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def speakers(self) -> list[Speaker]:
        return [link.speaker for link in self.links]


class Registration(Base):
    """A participant of one event. No password: the signed session is the credential."""

    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    organisation: Mapped[str] = mapped_column(String(200))
    municipality: Mapped[str] = mapped_column(String(120), default="")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    job_role: Mapped[str] = mapped_column(String(120), default="")
    attendance: Mapped[str] = mapped_column(String(10), default="online")
    join_key: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="sv", server_default="sv")
    """The language the person registered in: their mail is written in it."""
    confirmed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    """When the registration began to count: at once, or (an event with `confirm_email`) when
    the join link from the confirmation mail was first opened."""
    anonymised_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    """Set when the retention period removed the person's name, address and organisation."""
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class User(Base):
    """Staff with a password: admins, moderators, archivists, facilitators."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    """Where invitations' follow-ups and password resets go (server/staff)."""
    oidc_subject: Mapped[str | None] = mapped_column(String(300), unique=True)
    """`issuer|sub` of the single sign-on account linked to this staff member."""
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class StaffRole(Base):
    """A staff member's role at one event (moderator, facilitator, captioner, speaker,
    archivist); a facilitator's `regions` are the regions they lead there. At an event with a
    row here the row decides; elsewhere `User.role` does (`"staff"`: no role of its own);
    an admin is an admin everywhere. Read into the `Principal` per request and per socket
    handshake (platform/web.py: staff_principal)."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("user_id", "event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token, the server keeps its hash here,
    so logging out, a password change or an admin ends a session everywhere at once."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the cookie's token (a stolen database holds no usable session)."""
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime(), index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(80), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class AccessibilityReport(Base):
    """A reported accessibility problem (the law requires a way to report them)."""

    __tablename__ = "accessibility_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    page: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
