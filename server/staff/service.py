"""Staff from the browser: admins invite people by e-mail with a role, remove staff (every
session of theirs ends), and send password resets; the invited and the forgetful set their
password through a single-use link that expires. Only a link's SHA-256 is stored, so a copy of
the database opens nothing."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.mail import outbox
from server.mail.messages import render as render_mail
from server.platform import audit, sessions
from server.platform.auth import STAFF_ROLES, Principal, hash_password
from server.platform.errors import DomainError
from server.platform.forms import field_error
from server.platform.models import User, utcnow
from server.platform.registration import EMAIL
from server.platform.settings import Settings
from server.staff.models import StaffToken

INVITE_LIFE = timedelta(days=7)
RESET_LIFE = timedelta(hours=2)
PASSWORD_MIN = 12
ROLES = tuple(r for r in STAFF_ROLES)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class InviteForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(min_length=1, max_length=120)
    role: Literal["admin", "moderator", "archivist", "facilitator", "speaker", "captioner"]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.match(EMAIL, value):
            raise ValueError("email")
        return value.lower()


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
    token = secrets.token_urlsafe(32)
    db.add(StaffToken(kind="invite", token_hash=_hash(token), email=form.email,
                      display_name=form.display_name, role=form.role, created_by=actor.id,
                      expires_at=utcnow() + INVITE_LIFE))
    subject, body = render_mail(
        "invitation", lang, title="Träffpunkt", name=form.display_name,
        role=form.role, inviter=actor.name, days=INVITE_LIFE.days,
        url=f"{settings.public_url.rstrip('/')}/staff/invitation/{token}")
    outbox.enqueue(db, kind="invitation", to=form.email, subject=subject, body=body)
    audit.record(db, actor, None, "staff.invite", form.email, role=form.role)


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
    if await db.scalar(select(User.id).where(func.lower(User.email) == row.email)):
        raise DomainError("staff.exists", "Det finns redan personal med adressen.")
    user = User(username=form.username, display_name=row.display_name, role=row.role,
                email=row.email, password_hash=hash_password(form.password))
    db.add(user)
    row.used_at = utcnow()
    await db.flush()
    audit.record(db, Principal("user", user.id, user.display_name, user.role), None,
                 "staff.accept", user.username, role=user.role)
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
