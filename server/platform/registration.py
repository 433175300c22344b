"""Registration of participants: validation with a message per field, then one stored row."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.auth import new_join_key
from server.platform.errors import DomainError, NotFound
from server.platform.models import Event, Region, Registration

NATIONAL = "national"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$"


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


async def register(session: AsyncSession, event: Event, data: RegistrationIn) -> Registration:
    """Store one registration. An unknown region is refused, not guessed."""
    region = None if data.region == NATIONAL else data.region
    if region is not None and await session.get(Region, region) is None:
        raise DomainError("registration.region", "Okänd region.", field="region")
    reg = Registration(
        event_id=event.id, name=data.name, email=data.email or None,
        organisation=data.organisation, municipality=data.municipality, region_code=region,
        job_role=data.job_role, attendance=data.attendance, join_key=new_join_key(),
    )
    session.add(reg)
    await session.flush()
    return reg


async def by_join_key(session: AsyncSession, event: Event, key: str) -> Registration:
    reg = await session.scalar(
        select(Registration).where(Registration.join_key == key[:64])
    )
    if reg is None or reg.event_id != event.id:
        raise NotFound("registration.not_found", "Länken är ogiltig.")
    return reg
