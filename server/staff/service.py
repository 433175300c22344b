"""Staff from the browser: admins invite people by e-mail with a role, remove staff (every
session of theirs ends), and send password resets; the invited and the forgetful set their
password through a single-use link that expires. Only a link's SHA-256 is stored, so a copy of
the database opens nothing."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.mail import outbox
from server.mail.messages import render as render_mail
from server.platform import audit, sessions
from server.platform.auth import NO_ROLE, Principal, hash_password
from server.platform.errors import DomainError
from server.platform.forms import field_error
from server.platform.models import Event, Region, StaffRole, User, WebSession, utcnow
from server.platform.registration import EMAIL
from server.platform.settings import Settings
from server.staff.models import StaffToken

INVITE_LIFE = timedelta(days=7)
RESET_LIFE = timedelta(hours=2)
PASSWORD_MIN = 12


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RoleForm(BaseModel):
    """A role at one event (`event` set) or at every event (`event` None; only then admin);
    a facilitator's regions at that event."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    role: Literal["admin", "moderator", "archivist", "facilitator", "speaker", "captioner"]
    event: int | None = Field(default=None, ge=1, lt=2**31)
    regions: list[Annotated[str, Field(max_length=10)]] = Field(default=[], max_length=30)

    @field_validator("event", mode="before")
    @classmethod
    def _every_event(cls, value: object) -> object:
        return None if value in ("", "all") else value

    @model_validator(mode="after")
    def _fits(self) -> RoleForm:
        if self.role == "admin" and self.event is not None:
            raise field_error("event", "staff.error.admin_everywhere")
        if self.role != "facilitator":
            self.regions = []
        elif self.event is None and self.regions:
            raise field_error("regions", "staff.error.regions_need_event")
        self.regions = sorted(set(self.regions))
        return self


class InviteForm(RoleForm):
    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(min_length=1, max_length=120)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.match(EMAIL, value):
            raise ValueError("email")
        return value.lower()


class GlobalRoleForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["admin", "moderator", "archivist", "facilitator", "speaker", "captioner",
                  "staff"]


class PasswordForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    password: str = Field(min_length=PASSWORD_MIN, max_length=200)
    repeat: str = Field(max_length=200)

    @model_validator(mode="after")
    def _same(self) -> PasswordForm:
        if self.password != self.repeat:
            raise field_error("repeat", "error.password_repeat")
        return self


class AcceptForm(PasswordForm):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,79}$")


async def invite(db: AsyncSession, actor: Principal, settings: Settings, form: InviteForm,
                 lang: str) -> None:
    """An invitation mailed to the address: a link to choose a user name and password."""
    if await db.scalar(select(User.id).where(func.lower(User.email) == form.email)):
        raise DomainError("staff.exists", "Det finns redan personal med adressen.",
                          field="email")
    event = await _check_role(db, form)
    token = secrets.token_urlsafe(32)
    db.add(StaffToken(kind="invite", token_hash=_hash(token), email=form.email,
                      display_name=form.display_name, role=form.role, event_id=form.event,
                      regions=form.regions, created_by=actor.id,
                      expires_at=utcnow() + INVITE_LIFE))
    regions = list(await db.scalars(select(Region.name).where(Region.code.in_(form.regions))
                                    .order_by(Region.name)))
    subject, body = render_mail(
        "invitation", lang, title="Träffpunkt", name=form.display_name, role=form.role,
        event=event.title if event else None, regions=", ".join(regions),
        inviter=actor.name, days=INVITE_LIFE.days,
        url=f"{settings.public_url.rstrip('/')}/staff/invitation/{token}")
    outbox.enqueue(db, kind="invitation", to=form.email, subject=subject, body=body)
    audit.record(db, actor, form.event, "staff.invite", form.email, role=form.role,
                 regions=form.regions)


async def _check_role(db: AsyncSession, form: RoleForm) -> Event | None:
    """The form's event (None: every event), if it and the regions exist."""
    event = await db.get(Event, form.event) if form.event is not None else None
    if form.event is not None and event is None:
        raise DomainError("staff.no_event", "Evenemanget finns inte.", field="event")
    if form.regions:
        known = set(await db.scalars(select(Region.code).where(Region.code.in_(form.regions))))
        if known != set(form.regions):
            raise DomainError("staff.unknown_region", "Okänd region.", field="regions")
    return event


async def grant(db: AsyncSession, actor: Principal, user_id: int, form: RoleForm) -> User:
    """Give a staff member a role at one event (replacing the one they had there), or at
    every event (their global role; NO_ROLE for none). An admin stays admin everywhere;
    nobody changes their own roles."""
    user = await _other_staff(db, actor, user_id)
    await _check_role(db, form)
    if form.event is None:
        audit.record(db, actor, None, "staff.role", user.username, role=form.role,
                     was=user.role)
        user.role = form.role
        return user
    if user.role == "admin":
        raise DomainError("staff.admin_everywhere",
                          "En administratör har den rollen vid alla evenemang.", field="role")
    row = await db.scalar(select(StaffRole).where(StaffRole.user_id == user.id,
                                                  StaffRole.event_id == form.event))
    if row is None:
        row = StaffRole(user_id=user.id, event_id=form.event)
        db.add(row)
    row.role, row.regions = form.role, form.regions
    audit.record(db, actor, form.event, "staff.grant", user.username, role=form.role,
                 regions=form.regions)
    return user


async def set_global_role(db: AsyncSession, actor: Principal, user_id: int, role: str) -> User:
    """A staff member's role at events without a role of their own there (NO_ROLE: none)."""
    user = await _other_staff(db, actor, user_id)
    audit.record(db, actor, None, "staff.role", user.username, role=role, was=user.role)
    user.role = role
    if role == "admin":  # admin everywhere: no event's row is read any more
        await db.execute(delete(StaffRole).where(StaffRole.user_id == user.id))
    return user


async def revoke(db: AsyncSession, actor: Principal, role_id: int) -> User:
    """Take back a role at one event."""
    row = await db.get(StaffRole, role_id) if 0 < role_id < 2**31 else None
    if row is None:
        raise DomainError("staff.role_not_found", "Rollen finns inte.")
    user = await _other_staff(db, actor, row.user_id)
    audit.record(db, actor, row.event_id, "staff.revoke", user.username, role=row.role)
    await db.delete(row)
    return user


async def _other_staff(db: AsyncSession, actor: Principal, user_id: int) -> User:
    user = await db.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise DomainError("staff.not_found", "Personen finns inte.")
    if user.id == actor.id:
        raise DomainError("staff.self", "Du kan inte ändra dina egna roller.",
                          key="staff.self.roles")
    return user


async def roles_of(db: AsyncSession, user_id: int) -> list[tuple[StaffRole, str]]:
    """A staff member's roles per event, with the events' titles, newest event first."""
    rows = await db.execute(
        select(StaffRole, Event.title).join(Event, Event.id == StaffRole.event_id)
        .where(StaffRole.user_id == user_id).order_by(Event.starts_at.desc(), Event.id))
    return [(row, title) for row, title in rows]


async def event_roles(db: AsyncSession) -> dict[int, list[tuple[StaffRole, str]]]:
    """Every staff member's roles per event (by user id), for the staff list."""
    out: dict[int, list[tuple[StaffRole, str]]] = {}
    rows = await db.execute(
        select(StaffRole, Event.title).join(Event, Event.id == StaffRole.event_id)
        .order_by(Event.starts_at.desc(), Event.id))
    for row, title in rows:
        out.setdefault(row.user_id, []).append((row, title))
    return out


async def session_ids(db: AsyncSession, user_id: int) -> list[str]:
    """A staff member's live sessions: their pages reload after a change of role."""
    return list(await db.scalars(select(WebSession.id).where(WebSession.user_id == user_id)))


async def request_reset(db: AsyncSession, settings: Settings, who: str, lang: str,
                        actor: Principal | None = None) -> None:
    """A password reset for the staff member with this user name or address, if there is one
    with an address; the caller answers the same either way."""
    who = who.strip().lower()[:254]
    user = await db.scalar(select(User).where(
        (func.lower(User.username) == who) | (func.lower(User.email) == who)))
    if user is None or not user.email:
        return
    await db.execute(delete(StaffToken).where(StaffToken.user_id == user.id,
                                              StaffToken.kind == "reset"))
    token = secrets.token_urlsafe(32)
    db.add(StaffToken(kind="reset", token_hash=_hash(token), email=user.email,
                      user_id=user.id, created_by=actor.id if actor else None,
                      expires_at=utcnow() + RESET_LIFE))
    subject, body = render_mail(
        "reset", lang, title="Träffpunkt", name=user.display_name, username=user.username,
        minutes=int(RESET_LIFE.total_seconds() // 60),
        url=f"{settings.public_url.rstrip('/')}/staff/reset/{token}")
    outbox.enqueue(db, kind="reset", to=user.email, subject=subject, body=body)
    if actor is not None:
        audit.record(db, actor, None, "staff.reset", user.username)


async def valid_token(db: AsyncSession, kind: str, token: str,
                      now: datetime | None = None) -> StaffToken:
    """The live link, or `staff.link_invalid` (unknown, used or expired: all look alike)."""
    row = None
    if isinstance(token, str) and 20 <= len(token) <= 100:
        row = await db.scalar(select(StaffToken).where(StaffToken.token_hash == _hash(token),
                                                       StaffToken.kind == kind))
    if row is None or row.used_at is not None or row.expires_at <= (now or utcnow()):
        raise DomainError("staff.link_invalid",
                          "Länken är ogiltig, redan använd eller för gammal.")
    return row


async def accept(db: AsyncSession, row: StaffToken, form: AcceptForm) -> User:
    """An invitation taken: the staff member exists, the link is spent."""
    if await db.scalar(select(User.id).where(func.lower(User.username) == form.username)):
        raise DomainError("staff.username_taken", "Användarnamnet är upptaget.",
                          field="username")
    user = await take_invitation(db, row, form.username, hash_password(form.password))
    audit.record(db, Principal("user", user.id, user.display_name, user.role), None,
                 "staff.accept", user.username, role=row.role)
    return user


async def pending_invitation(db: AsyncSession, email: str) -> StaffToken | None:
    """The live invitation to this address, if any (single sign-on takes it)."""
    return await db.scalar(select(StaffToken).where(
        StaffToken.kind == "invite", func.lower(StaffToken.email) == email.lower(),
        StaffToken.used_at.is_(None), StaffToken.expires_at > utcnow(),
    ).order_by(StaffToken.id.desc()).limit(1))


async def take_invitation(db: AsyncSession, row: StaffToken, username: str,
                          password_hash: str) -> User:
    """The invited staff member made, with the role the invitation gives (at every event, or
    at its event with a facilitator's regions); the link is spent."""
    if await db.scalar(select(User.id).where(func.lower(User.email) == row.email)):
        raise DomainError("staff.exists", "Det finns redan personal med adressen.")
    user = User(username=username, display_name=row.display_name,
                role=row.role if row.event_id is None else NO_ROLE,
                email=row.email, password_hash=password_hash)
    db.add(user)
    row.used_at = utcnow()
    await db.flush()
    if row.event_id is not None:
        db.add(StaffRole(user_id=user.id, event_id=row.event_id, role=row.role,
                         regions=list(row.regions or [])))
    return user


async def reset(db: AsyncSession, row: StaffToken, form: PasswordForm) -> list[str]:
    """A new password: the link is spent and every session the person had ends (their ids,
    for the caller to end their sockets)."""
    user = await db.get(User, row.user_id) if row.user_id else None
    if user is None:
        raise DomainError("staff.link_invalid",
                          "Länken är ogiltig, redan använd eller för gammal.")
    user.password_hash = hash_password(form.password)
    row.used_at = utcnow()
    ended = await sessions.end_every(db, user_id=user.id)
    audit.record(db, Principal("user", user.id, user.display_name, user.role), None,
                 "staff.password_reset", user.username)
    return ended


async def remove(db: AsyncSession, actor: Principal, user_id: int) -> list[str]:
    """Remove a staff member (never oneself): their sessions end at once."""
    user = await db.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise DomainError("staff.not_found", "Personen finns inte.")
    if user.id == actor.id:
        raise DomainError("staff.self", "Du kan inte ta bort dig själv.")
    ended = await sessions.end_every(db, user_id=user.id)
    audit.record(db, actor, None, "staff.remove", user.username, role=user.role)
    await db.delete(user)
    return ended


async def listing(db: AsyncSession) -> tuple[list[User], list[StaffToken]]:
    users = list(await db.scalars(select(User).order_by(User.display_name, User.id)))
    pending = list(await db.scalars(select(StaffToken).where(
        StaffToken.kind == "invite", StaffToken.used_at.is_(None),
        StaffToken.expires_at > utcnow()).order_by(StaffToken.id.desc())))
    return users, pending
