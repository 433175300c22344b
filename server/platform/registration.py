"""Registration of participants: validation with a message per field, then one stored row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.auth import new_join_key
from server.platform.errors import DomainError, NotFound
from server.platform.models import Event, Region, Registration, utcnow
from server.platform.node import Key

NATIONAL = "national"
EMAIL = r"^[^@\s,;<>()\[\]\\\"]{1,64}@[^@\s,;<>()\[\]\\\"]{1,189}\.[^@\s,;<>()\[\]\\\"]{2,}$"
"""One mailbox: no list separators, brackets or quotes a mail header would read as structure."""


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=120)
    email: str = Field("", max_length=254)
    organisation: str = Field(min_length=1, max_length=200)
    municipality: str = Field("", max_length=120)
    region: str = Field(min_length=1, max_length=10)
    job_role: str = Field("", max_length=120)
    attendance: Literal["online", "on_site"] = "online"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        import re

        if value and not re.match(EMAIL, value):
            raise ValueError("email")
        return value


def field_errors(exc: ValidationError) -> dict[str, tuple[str, dict[str, object]]]:
    """Pydantic errors as {field: (message key, values)} for the form to show next to fields."""
    errors: dict[str, tuple[str, dict[str, object]]] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        kind = err["type"]
        if kind == "string_too_long":
            errors[name] = ("error.too_long", {"max": err["ctx"]["max_length"]})
        elif kind in ("missing", "string_too_short"):
            errors[name] = ("error.required", {})
        elif name == "email":
            errors[name] = ("error.email", {})
        else:
            errors[name] = ("error.choice", {})
    return errors


FULL_TEXT = "Evenemanget är fullt: det finns inga platser kvar."
CLOSED_TEXT = {"not_open": "Anmälan har inte öppnat ännu.", "closed": "Anmälan är stängd."}


def registration_state(event: Event, now: datetime | None = None) -> str:
    """"open", "not_open" (before its opening time) or "closed" (after its deadline). With
    neither set, registration is open: people still register to watch a past event's
    recording with its questions."""
    now = now or utcnow()
    if event.status == "archived":
        return "closed"
    if event.status == "draft":  # staff preview the form; no one registers before publication
        return "not_open"
    if event.registration_opens_at and now < event.registration_opens_at:
        return "not_open"
    if event.registration_closes_at and now >= event.registration_closes_at:
        return "closed"
    return "open"


async def counted(session: AsyncSession, event: Event) -> int:
    """Registrations that count (towards the cap, in the lists): those confirmed."""
    return int(await session.scalar(select(func.count(Registration.id)).where(
        Registration.event_id == event.id, Registration.confirmed_at.is_not(None))) or 0)


def _closed(event: Event) -> DomainError | None:
    """`registration.not_open` or `registration.closed` for an event outside its window."""
    state = registration_state(event)
    return None if state == "open" else DomainError(f"registration.{state}", CLOSED_TEXT[state])


async def refusal(session: AsyncSession, event: Event) -> DomainError | None:
    """Why the event takes no registrations now (shown instead of the form), or None."""
    if closed := _closed(event):
        return closed
    if (event.registration_cap is not None and not event.confirm_email
            and await counted(session, event) >= event.registration_cap):
        return DomainError("registration.full", FULL_TEXT)
    return None


async def _check_room(session: AsyncSession, event: Event) -> None:
    """Refuse when the event is at its cap. The event's row is locked first (PostgreSQL), so
    two people registering for the last place at once do not both get it."""
    if event.registration_cap is None:
        return
    await session.execute(select(Event.id).where(Event.id == event.id).with_for_update())
    if await counted(session, event) >= event.registration_cap:
        raise DomainError("registration.full", FULL_TEXT)


async def register(session: AsyncSession, event: Event, data: RegistrationIn, *,
                   language: str = "sv") -> Registration:
    """Store one registration. An unknown region is refused, not guessed; a closed or full
    event refuses; with `confirm_email` the address is required and the registration counts
    once it is confirmed (`confirm`)."""
    if closed := _closed(event):
        raise closed
    if event.confirm_email and not data.email:
        raise DomainError("registration.email_required",
                          "Ange din e-postadress: anmälan bekräftas med ett mejl.", field="email")
    region = None if data.region == NATIONAL else data.region
    if region is not None and await session.get(Region, region) is None:
        raise DomainError("registration.region", "Okänd region.", field="region")
    if not event.confirm_email:
        await _check_room(session, event)
    reg = Registration(
        event_id=event.id, name=data.name, email=data.email or None,
        organisation=data.organisation, municipality=data.municipality, region_code=region,
        job_role=data.job_role, attendance=data.attendance, join_key=new_join_key(),
        language=language if language in ("sv", "en") else "sv",
        confirmed_at=None if event.confirm_email else utcnow(),
    )
    session.add(reg)
    await session.flush()
    return reg


async def confirm(session: AsyncSession, event: Event, reg: Registration) -> None:
    """The join link from the confirmation mail was opened: the address is the person's, and
    the registration now counts (if the event still has room)."""
    if reg.confirmed_at is not None:
        return
    await _check_room(session, event)
    reg.confirmed_at = utcnow()


async def by_join_key(session: AsyncSession, event: Event, key: str) -> Registration:
    reg = await session.scalar(
        select(Registration).where(Registration.join_key == key[:64])
    )
    if reg is None or reg.event_id != event.id:
        raise NotFound("registration.not_found", "Länken är ogiltig.")
    return reg


class Forgetting:
    """Every feature's `forget`, run in order in the transaction that deletes a registration;
    one that fails fails the deletion (nothing half-anonymised is committed)."""

    def __init__(self, steps: Sequence[Callable[[AsyncSession, int], Awaitable[None]]]) -> None:
        self.steps = tuple(steps)

    async def __call__(self, db: AsyncSession, registration_id: int) -> None:
        for step in self.steps:
            await step(db, registration_id)


FORGETTING = Key("registration.forgetting", Forgetting)
