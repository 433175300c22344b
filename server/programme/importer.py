"""The event file format and its import: an event with its programme, speakers, themes and
feedback form (`traffpunkt import-event`, the demo). Reading events is server/platform/programme."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.feedback.service import FormDef
from server.feedback.service import form_row as feedback_form_row
from server.platform.errors import DomainError
from server.platform.models import (
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
    location: str = Field("", max_length=200)
    starts_at: datetime
    ends_at: datetime | None = None
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
        location=data.location, starts_at=data.starts_at, ends_at=data.ends_at,
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
    )
    for n, s in enumerate(data.speakers):
        key = (s.name, s.organisation)
        if key not in speakers:
            speakers[key] = Speaker(event_id=event.id, **s.model_dump())
        item.links.append(ProgrammeItemSpeaker(speaker=speakers[key], position=n))
    return item
