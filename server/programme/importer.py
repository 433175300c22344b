"""The event file format and its import: an event with its programme, speakers, themes and
feedback form (`traffpunkt import-event`, the demo). Reading events is server/platform/programme."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.feedback.service import FormDef, get_form
from server.feedback.service import form_row as feedback_form_row
from server.platform.errors import DomainError
from server.platform.models import (
    RETENTION_MONTHS,
    Event,
    ProgrammeItem,
    ProgrammeItemSpeaker,
    Speaker,
    Theme,
)

Slug = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")
Organisation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class SpeakerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    title: str = Field("", max_length=200)
    organisation: str = Field("", max_length=200)


class MaterialIn(BaseModel):
    """A link to material an item points to (a report, a handbook): http(s) only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    label: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=1000)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parsed = AnyHttpUrl(value)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("url")
        return value


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=5000)
    starts_at: datetime | None = None
    duration_minutes: int | None = Field(None, ge=1, le=24 * 60)
    speakers: list[SpeakerIn] = Field(default_factory=list, max_length=20)
    organisations: list[Organisation] = Field(
        default_factory=list, max_length=20,
        description="organisations of the item besides its speakers' own, e.g. a report's authors",
    )
    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)


class ThemeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9_-]{1,60}$")
    title: str = Field(min_length=1, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=2000)


class QaSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    premoderation: bool = True
    allow_anonymous: bool = True


class EventFile(BaseModel):
    """The file KB writes (or exports) to create an event: see server/data/demo_event.json."""

    model_config = ConfigDict(extra="allow")
    slug: str = Slug
    title: str = Field(min_length=1, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=10000)
    description_en: str = Field("", max_length=10000)
    location: str = Field("", max_length=200)
    status: Literal["draft", "published", "archived"] = "published"
    starts_at: datetime
    ends_at: datetime | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    registration_cap: int | None = Field(None, ge=1, le=100_000)
    confirm_email: bool = False
    retention_months: int = Field(RETENTION_MONTHS, ge=1, le=120)
    qa: QaSettingsIn = Field(default_factory=QaSettingsIn)
    themes: list[ThemeIn] = Field(default_factory=list, max_length=30)
    programme: list[ItemIn] = Field(default_factory=list, max_length=200)
    feedback_form: FormDef | None = None


def read_event_file(path: Path) -> EventFile:
    try:
        return EventFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise DomainError(
            "event.invalid_file", f"{path}: {exc}", path=str(path), reason=str(exc)
        ) from exc


async def import_event(session: AsyncSession, data: EventFile) -> Event:
    """Create an event with its programme, speakers and themes. Refuses a slug in use."""
    if await session.scalar(select(Event.id).where(Event.slug == data.slug)):
        raise DomainError(
            "event.exists", f"Evenemanget '{data.slug}' finns redan.", slug=data.slug
        )
    event = Event(
        slug=data.slug, title=data.title, title_en=data.title_en, description=data.description,
        description_en=data.description_en, location=data.location, status=data.status,
        starts_at=data.starts_at, ends_at=data.ends_at,
        registration_opens_at=data.registration_opens_at,
        registration_closes_at=data.registration_closes_at,
        registration_cap=data.registration_cap, confirm_email=data.confirm_email,
        retention_months=data.retention_months,
        qa_premoderation=data.qa.premoderation, qa_allow_anonymous=data.qa.allow_anonymous,
    )
    event.themes = [Theme(position=i, **t.model_dump()) for i, t in enumerate(data.themes)]
    event.items = []
    session.add(event)
    await session.flush()
    speakers: dict[tuple[str, str], Speaker] = {}
    event.items.extend(_item(event, i, item, speakers) for i, item in enumerate(data.programme))
    session.add(feedback_form_row(event.id, data.feedback_form))
    await session.flush()
    return event


def _item(
    event: Event, position: int, data: ItemIn, speakers: dict[tuple[str, str], Speaker]
) -> ProgrammeItem:
    item = ProgrammeItem(
        position=position, title=data.title, description=data.description,
        starts_at=data.starts_at, duration_minutes=data.duration_minutes,
        organisations=list(data.organisations),
        materials=[m.model_dump() for m in data.materials],
    )
    for n, s in enumerate(data.speakers):
        key = (s.name, s.organisation)
        if key not in speakers:
            speakers[key] = Speaker(event_id=event.id, **s.model_dump())
        item.links.append(ProgrammeItemSpeaker(speaker=speakers[key], position=n))
    return item


async def export_event(session: AsyncSession, event: Event) -> EventFile:
    """The event as an event file: what `import_event` makes again (a copy of the event, the
    next Träffpunkt, or a backup). Its registrations, questions and rooms are not part of it."""
    form = await get_form(session, event.id)
    return EventFile(
        slug=event.slug, title=event.title, title_en=event.title_en,
        description=event.description, description_en=event.description_en,
        location=event.location, status=event.status,
        starts_at=event.starts_at, ends_at=event.ends_at,
        registration_opens_at=event.registration_opens_at,
        registration_closes_at=event.registration_closes_at,
        registration_cap=event.registration_cap, confirm_email=event.confirm_email,
        retention_months=event.retention_months,
        qa=QaSettingsIn(premoderation=event.qa_premoderation,
                        allow_anonymous=event.qa_allow_anonymous),
        themes=[ThemeIn(key=t.key, title=t.title, title_en=t.title_en,
                        description=t.description) for t in event.themes],
        programme=[ItemIn(
            title=i.title, description=i.description, starts_at=i.starts_at,
            duration_minutes=i.duration_minutes,
            speakers=[SpeakerIn(name=s.name, title=s.title, organisation=s.organisation)
                      for s in i.speakers],
            organisations=list(i.organisations or []),
            materials=[MaterialIn(**m) for m in (i.materials or [])],
        ) for i in event.items],
        feedback_form=FormDef.model_validate({"fields": form.fields}),
    )
