"""Events set up from the browser (admins): create one, copy an earlier one, edit its details,
programme and themes, publish or archive it. Every change is validated (a message per field)
and audited; a new time or place sends everyone registered an updated calendar invitation.

Forms arrive as the browser sends them: times as `datetime-local` values in Swedish time,
checkboxes as present or absent, speakers and links as numbered rows. The models below turn
them into checked values; the functions below them change the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutRound
from server.mail import outbox
from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import DomainError, NotFound
from server.platform.forms import LocalTime, local_time
from server.platform.forms import field_error as _field_error
from server.platform.forms import form_errors as form_errors
from server.platform.models import Event, ProgrammeItem, ProgrammeItemSpeaker, Speaker, Theme
from server.platform.settings import Settings
from server.programme.importer import (
    ItemIn,
    MaterialIn,
    Slug,
    SpeakerIn,
    export_event,
    import_event,
)

ROWS_MAX = 20
STATUSES = ("draft", "published", "archived")


def _checkbox(value: object) -> bool:
    return value in ("on", "1", "true", True)


class EventForm(BaseModel):
    """An event's details as the event form sends them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field("", max_length=200)
    description: str = Field("", max_length=10000)
    description_en: str = Field("", max_length=10000)
    location: str = Field("", max_length=200)
    status: Literal["draft", "published", "archived"] = "draft"
    starts_at: LocalTime
    ends_at: LocalTime = None
    registration_opens_at: LocalTime = None
    registration_closes_at: LocalTime = None
    registration_cap: int | None = Field(None, ge=1, le=100_000)
    confirm_email: bool = False
    qa_premoderation: bool = False
    qa_allow_anonymous: bool = False

    @field_validator("registration_cap", mode="before")
    @classmethod
    def _cap(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("confirm_email", "qa_premoderation", "qa_allow_anonymous", mode="before")
    @classmethod
    def _flags(cls, value: object) -> bool:
        return _checkbox(value)

    @model_validator(mode="after")
    def _order(self) -> EventForm:
        if self.starts_at is None:
            raise _field_error("starts_at", "error.datetime")
        if self.ends_at and self.ends_at <= self.starts_at:
            raise _field_error("ends_at", "error.ends_before")
        if (self.registration_opens_at and self.registration_closes_at
                and self.registration_closes_at <= self.registration_opens_at):
            raise _field_error("registration_closes_at", "error.closes_before")
        return self

    def values(self) -> dict[str, Any]:
        data = self.model_dump()
        data["title_en"] = data["title_en"] or None
        return data


class NewEventForm(EventForm):
    slug: str = Slug


class CopyForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    slug: str = Slug
    title: str = Field(min_length=1, max_length=200)
    starts_at: Annotated[datetime, BeforeValidator(local_time)]


class ItemForm(BaseModel):
    """A programme item as its form sends it: speakers and links as numbered rows (empty rows
    are skipped), other organisations one per line."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=5000)
    starts_at: LocalTime = None
    duration_minutes: int | None = Field(None, ge=1, le=24 * 60)
    organisations: str = Field("", max_length=4000)

    @field_validator("duration_minutes", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return None if value == "" else value

    def organisation_list(self) -> list[str]:
        return [line.strip()[:200] for line in self.organisations.splitlines()
                if line.strip()][:ROWS_MAX]


class ThemeForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    key: str = Field(pattern=r"^[a-z0-9_-]{1,60}$")
    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)


class RowErrors(Exception):
    """Errors of numbered rows: {field name (speaker-2-name): message key}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def rows(form: Any, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """Numbered rows (`speaker-0-name`, ...) as dicts, in order; all-empty rows dropped."""
    found: list[dict[str, str]] = []
    for n in range(ROWS_MAX + 5):
        row = {name: str(form.get(f"{prefix}-{n}-{name}", "")).strip() for name in names}
        if any(row.values()):
            row["_n"] = str(n)
            found.append(row)
    return found[:ROWS_MAX]


def parse_speakers(form: Any) -> list[SpeakerIn]:
    speakers, errors = [], {}
    for row in rows(form, "speaker", ("name", "title", "organisation")):
        n = row.pop("_n")
        try:
            speakers.append(SpeakerIn(**row))
        except ValidationError as exc:
            for err in exc.errors():
                errors[f"speaker-{n}-{err['loc'][0]}"] = (
                    "error.required" if err["type"] in ("missing", "string_too_short")
                    else "error.too_long")
    if errors:
        raise RowErrors(errors)
    return speakers


def parse_materials(form: Any) -> list[MaterialIn]:
    materials, errors = [], {}
    for row in rows(form, "material", ("label", "url")):
        n = row.pop("_n")
        try:
            materials.append(MaterialIn(**row))
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0])
                errors[f"material-{n}-{name}"] = (
                    "error.required" if err["type"] in ("missing", "string_too_short")
                    else "error.url" if name == "url" else "error.too_long")
    if errors:
        raise RowErrors(errors)
    return materials


# -- events ---------------------------------------------------------------------------------


async def create(db: AsyncSession, actor: Principal, form: NewEventForm) -> Event:
    """A new event with no programme yet, the default feedback form, as a draft unless said."""
    from server.programme.importer import EventFile, QaSettingsIn

    values = form.values()
    data = EventFile(
        slug=form.slug, qa=QaSettingsIn(premoderation=form.qa_premoderation,
                                        allow_anonymous=form.qa_allow_anonymous),
        **{k: v for k, v in values.items()
           if k not in ("slug", "qa_premoderation", "qa_allow_anonymous")})
    event = await import_event(db, data)
    audit.record(db, actor, event.id, "event.create", event.slug)
    return event


async def update(db: AsyncSession, actor: Principal, settings: Settings, event: Event,
                 form: EventForm) -> list[str]:
    """Save an event's details; the names of what changed. A new time or place is mailed to
    everyone registered with an updated calendar invitation."""
    values = form.values()
    changed = [k for k, v in values.items() if getattr(event, k) != v]
    for key in changed:
        setattr(event, key, values[key])
    if {"starts_at", "ends_at", "location"} & set(changed):
        await outbox.schedule_changed(db, settings, event)
    if changed:
        audit.record(db, actor, event.id, "event.update", event.slug, fields=changed)
    return changed


async def copy(db: AsyncSession, actor: Principal, source: Event, form: CopyForm) -> Event:
    """A new draft event from an earlier one: its programme (times moved with the start),
    speakers, links, themes, feedback form, Q&A and registration settings. Registrations,
    questions, rooms and recordings stay with the original."""
    data = await export_event(db, source)
    shift = form.starts_at - source.starts_at

    def moved(value: datetime | None) -> datetime | None:
        return value + shift if value else None

    data = data.model_copy(update={
        "slug": form.slug, "title": form.title, "title_en": None, "status": "draft",
        "starts_at": form.starts_at, "ends_at": moved(source.ends_at),
        "registration_opens_at": moved(source.registration_opens_at),
        "registration_closes_at": moved(source.registration_closes_at),
        "programme": [item.model_copy(update={"starts_at": moved(item.starts_at)})
                      for item in data.programme],
    })
    event = await import_event(db, data)
    audit.record(db, actor, event.id, "event.copy", event.slug, source=source.slug)
    return event


# -- programme items ------------------------------------------------------------------------


async def item_of(db: AsyncSession, event: Event, item_id: int) -> ProgrammeItem:
    item = await db.get(ProgrammeItem, item_id) if 0 < item_id < 2**31 else None
    if item is None or item.event_id != event.id:
        raise NotFound("programme.item_not_found", "Programpunkten finns inte.")
    return item


async def save_item(db: AsyncSession, actor: Principal, event: Event, item: ProgrammeItem | None,
                    form: ItemForm, speakers: list[SpeakerIn],
                    materials: list[MaterialIn]) -> ProgrammeItem:
    """Add an item (at the end) or change one: its speakers are the event's speakers of the
    same name and organisation where they exist (their title updated), else new ones."""
    ItemIn(title=form.title, description=form.description, starts_at=form.starts_at,
           duration_minutes=form.duration_minutes, speakers=speakers,
           organisations=form.organisation_list(), materials=materials)  # the file's rules
    if item is None:
        position = await db.scalar(select(func.coalesce(func.max(ProgrammeItem.position), -1))
                                   .where(ProgrammeItem.event_id == event.id))
        item = ProgrammeItem(event_id=event.id, position=int(position or 0) + 1, title="",
                             links=[])
        db.add(item)
        action = "programme.item_add"
    else:
        action = "programme.item_update"
    item.title, item.description = form.title, form.description
    item.starts_at, item.duration_minutes = form.starts_at, form.duration_minutes
    item.organisations = form.organisation_list()
    item.materials = [m.model_dump() for m in materials]
    existing = {(s.name, s.organisation): s for s in await db.scalars(
        select(Speaker).where(Speaker.event_id == event.id))}
    links = []
    for n, data in enumerate(speakers):
        speaker = existing.get((data.name, data.organisation))
        if speaker is None:
            speaker = Speaker(event_id=event.id, name=data.name, organisation=data.organisation)
            existing[(data.name, data.organisation)] = speaker
        speaker.title = data.title
        links.append(ProgrammeItemSpeaker(speaker=speaker, position=n))
    await db.flush()
    item.links = links
    await db.flush()
    audit.record(db, actor, event.id, action, str(item.id), title=item.title)
    return item


async def move_item(db: AsyncSession, actor: Principal, event: Event, item: ProgrammeItem,
                    direction: str) -> None:
    """Swap an item with its neighbour above or below."""
    items = list(await db.scalars(select(ProgrammeItem).where(
        ProgrammeItem.event_id == event.id).order_by(ProgrammeItem.position, ProgrammeItem.id)))
    index = next(i for i, other in enumerate(items) if other.id == item.id)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(items):
        return
    items[index], items[target] = items[target], items[index]
    for position, other in enumerate(items):
        other.position = position
    audit.record(db, actor, event.id, "programme.item_move", str(item.id), direction=direction)


async def delete_item(db: AsyncSession, actor: Principal, event: Event,
                      item: ProgrammeItem) -> None:
    if event.current_item_id == item.id:
        event.current_item_id = None
    audit.record(db, actor, event.id, "programme.item_delete", str(item.id), title=item.title)
    await db.delete(item)


# -- themes ---------------------------------------------------------------------------------


async def theme_of(db: AsyncSession, event: Event, theme_id: int) -> Theme:
    theme = await db.get(Theme, theme_id) if 0 < theme_id < 2**31 else None
    if theme is None or theme.event_id != event.id:
        raise NotFound("programme.theme_not_found", "Temat finns inte.")
    return theme


async def _rooms_opened(db: AsyncSession, event: Event) -> bool:
    return bool(await db.scalar(select(func.count(BreakoutRound.id)).where(
        BreakoutRound.event_id == event.id)))


async def save_theme(db: AsyncSession, actor: Principal, event: Event, theme: Theme | None,
                     form: ThemeForm) -> Theme:
    """Add or change a theme. Its key names a section of every room's notes, so it is fixed
    once rooms have been opened."""
    clash = await db.scalar(select(Theme.id).where(
        Theme.event_id == event.id, Theme.key == form.key))
    if clash is not None and (theme is None or clash != theme.id):
        raise DomainError("programme.theme_exists", "Det finns redan ett tema med nyckeln.",
                          field="key")
    if theme is not None and theme.key != form.key and await _rooms_opened(db, event):
        raise DomainError("programme.theme_in_use",
                          "Nyckeln kan inte ändras när rummen har öppnats.", field="key")
    if theme is None:
        count = await db.scalar(select(func.count(Theme.id)).where(Theme.event_id == event.id))
        if int(count or 0) >= 30:
            raise DomainError("programme.too_many_themes", "Högst 30 teman.", field="key")
        theme = Theme(event_id=event.id, position=int(count or 0), key=form.key, title="")
        db.add(theme)
    theme.key, theme.title = form.key, form.title
    theme.title_en, theme.description = form.title_en or None, form.description
    await db.flush()
    audit.record(db, actor, event.id, "programme.theme_save", theme.key)
    return theme


async def delete_theme(db: AsyncSession, actor: Principal, event: Event, theme: Theme) -> None:
    if await _rooms_opened(db, event):
        raise DomainError("programme.theme_in_use",
                          "Temat kan inte tas bort när rummen har öppnats.",
                          key="programme.theme_in_use.delete")
    audit.record(db, actor, event.id, "programme.theme_delete", theme.key)
    await db.delete(theme)


async def move_theme(db: AsyncSession, actor: Principal, event: Event, theme: Theme,
                     direction: str) -> None:
    themes = list(await db.scalars(select(Theme).where(Theme.event_id == event.id)
                                   .order_by(Theme.position, Theme.id)))
    index = next(i for i, other in enumerate(themes) if other.id == theme.id)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(themes):
        themes[index], themes[target] = themes[target], themes[index]
        for position, other in enumerate(themes):
            other.position = position
        audit.record(db, actor, event.id, "programme.theme_move", theme.key)

