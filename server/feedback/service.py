"""Regional feedback: the form per event, one response per region and ratings of the day.
KB's dashboard and exports read from server/feedback/report.py.

What this module needs from the breakout rooms and notes is declared as two Protocols,
`RegionMembership` and `NotesSource`. The default membership, `RoomMembership`, reads the
breakout rooms of the event's latest round (falling back to the registration's region while
no room covers a region); the notes are read from the store (server/feedback/feature.py
provides both under `PORTS`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound
from server.feedback.models import (
    FeedbackFacilitator,
    FeedbackForm,
    FeedbackRating,
    FeedbackResponse,
)
from server.platform import audit
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden, NotFound
from server.platform.models import Region, Registration, User, utcnow
from server.platform.node import Key as ServiceKey
from server.platform.roles import staff_with_role

FieldType = Literal["short_text", "long_text", "rating", "single_choice", "multiple_choice"]
CHOICE_TYPES = ("single_choice", "multiple_choice")
TEXT_LIMITS = {"short_text": 300, "long_text": 10_000}
KB_ROLES = frozenset({"admin", "moderator", "archivist"})
DEFAULT_FORM_FILE = Path(__file__).parents[1] / "data" / "demo_event.json"
Key = Field(pattern=r"^[a-z0-9_]{1,60}$")
Answer = str | int | list[str]
FieldErrors = dict[str, tuple[str, dict[str, object]]]


# ---- the form -------------------------------------------------------------------------------


class OptionDef(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    value: str = Key
    label: str = Field(min_length=1, max_length=200)
    label_en: str | None = Field(None, max_length=200)


class FieldDef(BaseModel):
    """One question: a label in Swedish (English optional), help text and a required flag.
    `theme` names the §18 theme whose room notes the facilitator may pull into the answer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    key: str = Key
    type: FieldType
    label: str = Field(min_length=1, max_length=300)
    label_en: str | None = Field(None, max_length=300)
    help: str = Field("", max_length=1000)
    help_en: str | None = Field(None, max_length=1000)
    required: bool = False
    options: list[OptionDef] = Field(default_factory=list, max_length=30)
    theme: str | None = Field(None, pattern=r"^[a-z0-9_-]{1,60}$")

    @model_validator(mode="after")
    def _options_fit_type(self) -> FieldDef:
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError("options must have distinct values")
        if self.type in CHOICE_TYPES and len(values) < 2:
            raise ValueError("a choice needs at least two options")
        if self.type not in CHOICE_TYPES and values:
            raise ValueError("only choice fields have options")
        return self

    def text(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label

    def help_text(self, lang: str) -> str:
        return self.help_en if lang == "en" and self.help_en else self.help

    def option_label(self, value: str, lang: str = "sv") -> str:
        for o in self.options:
            if o.value == value:
                return o.label_en if lang == "en" and o.label_en else o.label
        return value


class FormDef(BaseModel):
    """The `feedback_form` of an event file."""

    model_config = ConfigDict(extra="forbid")
    fields: list[FieldDef] = Field(min_length=1, max_length=60)

    @model_validator(mode="after")
    def _distinct_keys(self) -> FormDef:
        keys = [f.key for f in self.fields]
        if len(set(keys)) != len(keys):
            raise ValueError("field keys must be distinct")
        return self

    def field(self, key: str) -> FieldDef | None:
        return next((f for f in self.fields if f.key == key), None)


def default_form() -> FormDef:
    """The demo event's form, used for events whose file has none."""
    data = json.loads(DEFAULT_FORM_FILE.read_text(encoding="utf-8"))
    return FormDef.model_validate(data["feedback_form"])


def form_row(event_id: int, form: FormDef | None) -> FeedbackForm:
    """The stored form of a newly imported event (server/programme/importer.py)."""
    form = form or default_form()
    return FeedbackForm(event_id=event_id, fields=form.model_dump()["fields"], version=1)


async def get_form(db: AsyncSession, event_id: int) -> FeedbackForm:
    row = await db.get(FeedbackForm, event_id)
    if row is None:
        row = form_row(event_id, None)
        db.add(row)
        await db.flush()
    return row


def form_of(row: FeedbackForm) -> FormDef:
    return FormDef.model_validate({"fields": row.fields})


def is_locked(row: FeedbackForm, now: datetime | None = None) -> bool:
    return row.deadline is not None and (now or utcnow()) >= row.deadline


# ---- answers --------------------------------------------------------------------------------


class Invalid(DomainError):
    """Answers that fail validation: `fields` maps a field key to (message key, values)."""

    def __init__(self, fields: FieldErrors) -> None:
        super().__init__("feedback.invalid", "Svaret innehåller fel.", fields=sorted(fields))
        self.fields = fields


def clean_answers(form: FormDef, raw: Mapping[str, Any], *, final: bool) -> dict[str, Answer]:
    """Normalised answers for the form's fields; unknown keys are dropped. Drafts may leave
    required fields empty; a submit may not. Raises `Invalid` with a message per field."""
    clean: dict[str, Answer] = {}
    errors: FieldErrors = {}
    for f in form.fields:
        value, error = _clean_one(f, raw.get(f.key))
        if error is None and final and f.required and value in ("", None, []):
            error = ("error.required", {})
        if error:
            errors[f.key] = error
        elif value not in ("", None, []):
            clean[f.key] = value
    if errors:
        raise Invalid(errors)
    return clean


def _clean_one(
    f: FieldDef, value: Any
) -> tuple[Answer | None, tuple[str, dict[str, object]] | None]:
    if f.type in TEXT_LIMITS:
        text = _one(value).strip()
        limit = TEXT_LIMITS[f.type]
        return (text, None) if len(text) <= limit else (None, ("error.too_long", {"max": limit}))
    if f.type == "rating":
        return _rating(_one(value))
    allowed = [o.value for o in f.options]
    chosen = [
        str(v) for v in (value if isinstance(value, list) else [value]) if v not in (None, "")
    ]
    if any(v not in allowed for v in chosen) or (f.type == "single_choice" and len(chosen) > 1):
        return None, ("error.choice", {})
    if f.type == "single_choice":
        return (chosen[0] if chosen else ""), None
    return [v for v in allowed if v in chosen], None


def _one(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _rating(text: str) -> tuple[int | None, tuple[str, dict[str, object]] | None]:
    if not text.strip():
        return None, None
    if text.strip() in ("1", "2", "3", "4", "5"):
        return int(text), None
    return None, ("feedback.error.rating", {})


def value_fits(field_type: str, value: Any) -> bool:
    """Whether a stored value has the shape of the field type (text, rating 1–5, option value,
    list of option values). Values stored under another type of the field do not."""
    if field_type in TEXT_LIMITS or field_type == "single_choice":
        return isinstance(value, str)
    if field_type == "rating":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
    if field_type == "multiple_choice":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return False


# ---- who may do what --------------------------------------------------------------------------


class RegionMembership(Protocol):
    """Who belongs to a region's group for an event (the breakout room, once rooms exist)."""

    async def is_member(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool: ...

    async def is_facilitator(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool: ...


class NotesSource(Protocol):
    """The text of a room's notes for one §18 theme."""

    async def theme_text(self, event_id: int, region_code: str, theme_key: str) -> str: ...


class RegistrationMembership:
    """A participant belongs to the region of their registration; the facilitator is the
    registration (or staff user) a moderator chose for that region. `RoomMembership` falls back
    to this rule while the breakout rooms do not cover the region."""

    async def is_member(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool:
        if principal.kind == "participant" and principal.event_id == event_id:
            return principal.region_code == region_code
        return await self.is_facilitator(db, event_id, principal, region_code)

    async def is_facilitator(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool:
        if principal.leads_region(event_id, region_code):
            return True
        row = await db.get(FeedbackFacilitator, (event_id, region_code))
        return row is not None and _is_chosen(row, event_id, principal)


def _is_chosen(row: FeedbackFacilitator, event_id: int, principal: Principal) -> bool:
    """Whether the caller is the facilitator a moderator chose (`row`)."""
    if principal.kind == "participant":
        return principal.event_id == event_id and row.registration_id == principal.id
    return row.user_id == principal.id


class RoomMembership:
    """The default: a region's group is its breakout room(s) in the event's latest round.

    Members are everyone assigned to a room of that round whose regions include the region,
    and that room's facilitator (`BreakoutRoom.facilitator_id`). The facilitator, who submits,
    is the one a moderator chose on the dashboard if any, else the room's facilitator; the
    chosen one is also a member. Before the event has any round, the registration rule
    (`RegistrationMembership`) applies; once it has rooms, never again: a region the latest
    round gave no room has only its chosen facilitator.
    """

    def __init__(self, fallback: RegistrationMembership | None = None) -> None:
        self._fallback = fallback or RegistrationMembership()

    async def is_member(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool:
        rooms = await region_rooms(db, event_id, region_code)
        if not rooms and await latest_round_id(db, event_id) is None:
            # No rooms yet: the region a participant registered for is all there is to go by.
            return await self._fallback.is_member(db, event_id, principal, region_code)
        if await self._fallback.is_facilitator(db, event_id, principal, region_code):
            return True
        if not rooms:
            # Once the event has rooms, what someone typed at registration gives no access: a
            # region without a room of its own has only the facilitator a moderator chose.
            return False
        return await _in_rooms(db, event_id, principal, rooms)

    async def is_facilitator(
        self, db: AsyncSession, event_id: int, principal: Principal, region_code: str
    ) -> bool:
        if principal.leads_region(event_id, region_code):
            return True
        chosen = await db.get(FeedbackFacilitator, (event_id, region_code))
        if chosen is not None:
            return _is_chosen(chosen, event_id, principal)
        if principal.kind != "participant" or principal.event_id != event_id:
            return False
        rooms = await region_rooms(db, event_id, region_code)
        return any(r.facilitator_id == principal.id for r in rooms)


async def latest_round_id(db: AsyncSession, event_id: int) -> int | None:
    """The event's most recent breakout round that was opened (open now or closed)."""
    return await db.scalar(
        select(BreakoutRound.id)
        .where(BreakoutRound.event_id == event_id, BreakoutRound.status.in_(("open", "closed")),
               BreakoutRound.kind == "day")
        .order_by(BreakoutRound.id.desc())
        .limit(1)
    )


async def latest_rooms(db: AsyncSession, event_id: int) -> list[BreakoutRoom]:
    """The rooms of the event's latest round, in their order; none without a round."""
    round_id = await latest_round_id(db, event_id)
    if round_id is None:
        return []
    return list(
        await db.scalars(
            select(BreakoutRoom)
            .where(BreakoutRoom.round_id == round_id)
            .order_by(BreakoutRoom.position, BreakoutRoom.id)
        )
    )


async def region_rooms(db: AsyncSession, event_id: int, region_code: str) -> list[BreakoutRoom]:
    """The rooms of the latest round whose regions include the region (a round has a few dozen
    rooms at most, and `regions` is a JSON list: filtered here, the same on every database)."""
    return [r for r in await latest_rooms(db, event_id) if region_code in (r.regions or [])]


async def _in_rooms(
    db: AsyncSession, event_id: int, principal: Principal, rooms: list[BreakoutRoom]
) -> bool:
    """Whether a participant of the event is assigned to, or facilitates, one of the rooms."""
    if principal.kind != "participant" or principal.event_id != event_id:
        return False
    if any(r.facilitator_id == principal.id for r in rooms):
        return True
    found = await db.scalar(
        select(BreakoutAssignment.room_id).where(
            BreakoutAssignment.round_id == rooms[0].round_id,
            BreakoutAssignment.registration_id == principal.id,
            BreakoutAssignment.room_id.in_([r.id for r in rooms]),
        )
    )
    return found is not None


async def room_people(db: AsyncSession, event_id: int) -> dict[str, set[int]]:
    """Registration ids per region code of everyone in the latest round's rooms (assigned or
    facilitating): who a moderator may choose as a region's facilitator besides its own."""
    rooms = await latest_rooms(db, event_id)
    if not rooms:
        return {}
    assigned = await db.execute(
        select(BreakoutAssignment.room_id, BreakoutAssignment.registration_id).where(
            BreakoutAssignment.round_id == rooms[0].round_id
        )
    )
    in_room: dict[int, set[int]] = {
        r.id: {r.facilitator_id} if r.facilitator_id else set() for r in rooms
    }
    for room_id, registration in assigned:
        in_room.setdefault(room_id, set()).add(registration)
    out: dict[str, set[int]] = {}
    for room in rooms:
        for code in room.regions or []:
            out.setdefault(code, set()).update(in_room[room.id])
    return out


@dataclass(frozen=True)
class FeedbackPorts:
    membership: RegionMembership
    notes: NotesSource


PORTS = ServiceKey("feedback.ports", FeedbackPorts)


@dataclass(frozen=True)
class Access:
    read: bool
    edit: bool
    submit: bool


async def access(
    db: AsyncSession, ports: FeedbackPorts, event_id: int, principal: Principal, region: str
) -> Access:
    """What the caller may do with a region's response. KB staff read every region."""
    facilitator = await ports.membership.is_facilitator(db, event_id, principal, region)
    member = facilitator or await ports.membership.is_member(db, event_id, principal, region)
    kb = principal.is_staff and principal.role in KB_ROLES
    return Access(read=member or kb, edit=member, submit=facilitator)


async def require_access(
    db: AsyncSession,
    ports: FeedbackPorts,
    event_id: int,
    principal: Principal,
    region: str,
    need: Literal["read", "edit", "submit"] = "read",
) -> Access:
    if await db.get(Region, region) is None:
        raise NotFound("feedback.region_not_found", "Regionen finns inte.")
    allowed = await access(db, ports, event_id, principal, region)
    if not getattr(allowed, need):
        key, message = _FORBIDDEN[need]
        raise Forbidden(message, key=key)
    return allowed


_FORBIDDEN = {
    "read": ("auth.forbidden.feedback_read", "Du kan bara se din egen regions återkoppling."),
    "edit": ("auth.forbidden.feedback_edit", "Du kan bara ändra din egen regions återkoppling."),
    "submit": (
        "auth.forbidden.feedback_submit",
        "Endast regionens samtalsledare kan skicka in eller öppna svaret.",
    ),
}


async def own_region(
    db: AsyncSession, ports: FeedbackPorts, event_id: int, principal: Principal
) -> str | None:
    """The region whose response the caller works on: the one they were chosen to facilitate,
    else their breakout room's, else their registration's; None when no region is theirs."""
    for code in await _region_candidates(db, event_id, principal):
        if (await access(db, ports, event_id, principal, code)).edit:
            return code
    return None


async def _region_candidates(db: AsyncSession, event_id: int, principal: Principal) -> list[str]:
    participant = principal.kind == "participant"
    who = FeedbackFacilitator.registration_id if participant else FeedbackFacilitator.user_id
    codes = list(
        await db.scalars(
            select(FeedbackFacilitator.region_code).where(
                FeedbackFacilitator.event_id == event_id, who == principal.id
            )
        )
    )
    if not participant and principal.at_event == event_id:
        codes.extend(principal.regions)  # a staff facilitator's regions (roles per event)
    if participant and principal.event_id == event_id:
        codes.extend(await _room_regions_of(db, event_id, principal.id))
        codes.extend([principal.region_code] if principal.region_code else [])
    return list(dict.fromkeys(codes))


async def _room_regions_of(db: AsyncSession, event_id: int, registration_id: int) -> list[str]:
    """The regions of the latest round's rooms the registration is assigned to or facilitates."""
    rooms = await latest_rooms(db, event_id)
    if not rooms:
        return []
    mine = await db.scalar(
        select(BreakoutAssignment.room_id).where(
            BreakoutAssignment.round_id == rooms[0].round_id,
            BreakoutAssignment.registration_id == registration_id,
        )
    )
    return [
        code
        for r in rooms
        if r.id == mine or r.facilitator_id == registration_id
        for code in r.regions or []
    ]


# ---- the response -----------------------------------------------------------------------------


class Locked(DomainError):
    def __init__(self, answers: dict[str, Answer]) -> None:
        super().__init__(
            "feedback.locked",
            "Sista dag för återkoppling har passerat: svaret är låst. Din text finns kvar på "
            "sidan och har sparats separat åt KB.",
        )
        self.answers = answers


async def get_response(db: AsyncSession, event_id: int, region: str) -> FeedbackResponse | None:
    return await db.scalar(
        select(FeedbackResponse).where(
            FeedbackResponse.event_id == event_id, FeedbackResponse.region_code == region
        )
    )


async def save_draft(
    db: AsyncSession,
    ports: FeedbackPorts,
    event_id: int,
    principal: Principal,
    region: str,
    raw: Mapping[str, Any],
    version: int,
) -> FeedbackResponse:
    """Autosave. Idempotent (the same answers again change nothing); a stale version is refused
    with `feedback.conflict` so it never overwrites a newer draft."""
    await require_access(db, ports, event_id, principal, region, "edit")
    form_row_ = await get_form(db, event_id)
    answers = clean_answers(form_of(form_row_), raw, final=False)
    row = await get_response(db, event_id, region)
    if row is not None and row.answers == answers:
        return row
    if is_locked(form_row_):
        raise Locked(answers)
    if row is not None and row.status == "submitted":
        raise DomainError(
            "feedback.already_submitted",
            "Svaret är redan inskickat. Samtalsledaren kan öppna det för ändringar före sista dag.",
        )
    return await _store(
        db,
        event_id,
        region,
        row,
        version,
        answers=answers,
        status="draft",
        updated_by=principal.name,
    )


async def submit(
    db: AsyncSession,
    ports: FeedbackPorts,
    event_id: int,
    principal: Principal,
    region: str,
    raw: Mapping[str, Any],
    version: int,
) -> FeedbackResponse:
    """Submit the region's response. A double submit or a retry after a lost reply returns the
    stored response unchanged; the unique (event, region) constraint forbids a second row."""
    await require_access(db, ports, event_id, principal, region, "submit")
    form_row_ = await get_form(db, event_id)
    answers = clean_answers(form_of(form_row_), raw, final=True)
    row = await get_response(db, event_id, region)
    if row is not None and row.status == "submitted" and row.answers == answers:
        return row
    if is_locked(form_row_):
        raise Locked(answers)
    if row is not None and row.status == "submitted":
        raise DomainError(
            "feedback.already_submitted",
            "Svaret är redan inskickat med annat "
            "innehåll. Öppna det för ändringar och skicka in igen.",
            key="feedback.already_submitted.changed",
        )
    if row is not None and row.answers == answers:
        version = row.version  # exactly what is stored: no newer text can be lost
    now = utcnow()
    return await _store(
        db,
        event_id,
        region,
        row,
        version,
        answers=answers,
        status="submitted",
        updated_by=principal.name,
        submitted_by=principal.name,
        submitted_at=now,
    )


async def reopen(
    db: AsyncSession,
    ports: FeedbackPorts,
    event_id: int,
    principal: Principal,
    region: str,
    version: int,
) -> FeedbackResponse:
    """The facilitator takes a submitted response back to draft, before the deadline."""
    await require_access(db, ports, event_id, principal, region, "submit")
    row = await get_response(db, event_id, region)
    if row is None or row.status == "draft":
        raise DomainError("feedback.not_submitted", "Svaret är inte inskickat.")
    if is_locked(await get_form(db, event_id)):
        raise Locked(dict(row.answers))
    return await _store(
        db, event_id, region, row, version, status="draft", updated_by=principal.name
    )


async def keep_late(
    db: AsyncSession, event_id: int, region: str, answers: dict[str, Answer], by: str
) -> None:
    """Keep what arrived after the deadline beside the locked response, for KB to judge."""
    row = await get_response(db, event_id, region)
    if row is None:
        row = FeedbackResponse(
            event_id=event_id, region_code=region, answers={}, version=1, updated_by=by
        )
        db.add(row)
    row.late_answers = {"answers": answers, "by": by}
    row.late_at = utcnow()


async def _store(
    db: AsyncSession,
    event_id: int,
    region: str,
    row: FeedbackResponse | None,
    version: int,
    **values: Any,
) -> FeedbackResponse:
    """Write with an optimistic version check, atomically in the database."""
    values["updated_at"] = utcnow()
    if row is None:
        if version != 0:
            raise _conflict(None)
        return await _insert(db, event_id, region, values)
    result = await db.execute(
        update(FeedbackResponse)
        .where(FeedbackResponse.id == row.id, FeedbackResponse.version == version)
        .values(version=version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await db.refresh(row)
        raise _conflict(row)
    await db.refresh(row)
    return row


async def _insert(
    db: AsyncSession, event_id: int, region: str, values: dict[str, Any]
) -> FeedbackResponse:
    row = FeedbackResponse(event_id=event_id, region_code=region, version=1, **values)
    try:
        async with db.begin_nested():
            db.add(row)
    except IntegrityError:  # someone else created the region's response first
        raise _conflict(await get_response(db, event_id, region)) from None
    return row


def _conflict(row: FeedbackResponse | None) -> DomainError:
    who = f" av {row.updated_by}" if row is not None and row.updated_by else ""
    return DomainError(
        "feedback.conflict",
        f"Någon annan har sparat en nyare version{who}. Dina senaste ändringar sparades inte: "
        "kopiera din text och ladda sedan om sidan för att se den nya versionen.",
        key="feedback.conflict.by" if who else "feedback.conflict",
        current_version=row.version if row is not None else 0,
        updated_by=row.updated_by if row is not None else "",
        updated_at=row.updated_at.isoformat() if row is not None else None,
    )


# ---- moderator actions ------------------------------------------------------------------------


async def set_deadline(
    db: AsyncSession, principal: Principal, event_id: int, deadline: datetime | None
) -> FeedbackForm:
    principal.require_moderator()
    row = await get_form(db, event_id)
    row.deadline = deadline
    audit.record(
        db,
        principal,
        event_id,
        "feedback.deadline",
        "",
        deadline=deadline.isoformat() if deadline else None,
    )
    return row


async def set_facilitator(
    db: AsyncSession,
    principal: Principal,
    event_id: int,
    region: str,
    registration_id: int | None,
    user_id: int | None = None,
) -> None:
    """Choose (or clear, with neither id) the facilitator of a region."""
    principal.require_moderator()
    if await db.get(Region, region) is None:
        raise NotFound("feedback.region_not_found", "Regionen finns inte.")
    await _check_facilitator(db, event_id, region, registration_id, user_id)
    row = await db.get(FeedbackFacilitator, (event_id, region))
    if registration_id is None and user_id is None:
        if row is not None:
            await db.delete(row)
    elif row is None:
        db.add(
            FeedbackFacilitator(
                event_id=event_id,
                region_code=region,
                registration_id=registration_id,
                user_id=user_id,
            )
        )
    else:
        row.registration_id, row.user_id, row.set_at = registration_id, user_id, utcnow()
    audit.record(
        db,
        principal,
        event_id,
        "feedback.facilitator",
        region,
        registration_id=registration_id,
        user_id=user_id,
    )


async def _check_facilitator(
    db: AsyncSession,
    event_id: int,
    region: str,
    registration_id: int | None,
    user_id: int | None,
) -> None:
    if registration_id is not None:
        reg = await db.get(Registration, registration_id)
        in_room = registration_id in (await room_people(db, event_id)).get(region, set())
        if reg is None or reg.event_id != event_id or not (reg.region_code == region or in_room):
            raise DomainError(
                "feedback.facilitator_invalid",
                "Samtalsledaren måste vara anmäld från regionen eller finnas i regionens rum.",
                key="feedback.facilitator_invalid.region",
            )
    if user_id is not None:
        found = await db.scalar(
            staff_with_role(event_id, ("facilitator",)).where(User.id == user_id))
        if found is None:
            raise DomainError(
                "feedback.facilitator_invalid", "Personalkontot har inte rollen samtalsledare.",
                key="feedback.facilitator_invalid.role",
            )


class FormTypeInUse(DomainError):
    """A form edit that changes the type of questions already answered: `keys` names them."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(
            "feedback.form_type_in_use",
            "Frågor som redan har svar kan inte byta typ. Lägg till en ny fråga i stället.",
            fields=keys,
        )
        self.keys = keys


def _same_kind(before: str, after: str) -> bool:
    """Short and long text hold the same values; every other change of type does not."""
    return before == after or {before, after} <= set(TEXT_LIMITS)


def type_changes_in_use(old: FormDef, new: FormDef, stored: Mapping[str, list[Any]]) -> list[str]:
    """Keys of the new form whose stored answers would not fit it: the type changed, or (a key
    removed and added again) a stored value has another shape than the new type."""
    keys = []
    for f in new.fields:
        values = stored.get(f.key)
        if not values:
            continue
        before = old.field(f.key)
        changed = before is not None and not _same_kind(before.type, f.type)
        if changed or not all(value_fits(f.type, v) for v in values):
            keys.append(f.key)
    return keys


async def stored_values(db: AsyncSession, event_id: int) -> dict[str, list[Any]]:
    """Every stored answer of the event by field key, drafts and late answers included."""
    rows = await db.execute(
        select(FeedbackResponse.answers, FeedbackResponse.late_answers).where(
            FeedbackResponse.event_id == event_id
        )
    )
    out: dict[str, list[Any]] = {}
    for answers, late in rows:
        for source in (answers or {}, (late or {}).get("answers") or {}):
            for key, value in source.items():
                out.setdefault(key, []).append(value)
    return out


async def save_form(
    db: AsyncSession, principal: Principal, event_id: int, form: FormDef, version: int
) -> FeedbackForm:
    """An admin's edit of the form; a stale editor (older version) is refused."""
    principal.require_role("admin")
    row = await get_form(db, event_id)
    if row.version != version:
        raise DomainError(
            "feedback.form_conflict", "Formuläret har ändrats av någon annan. Ladda om sidan."
        )
    in_use = type_changes_in_use(form_of(row), form, await stored_values(db, event_id))
    if in_use:
        raise FormTypeInUse(in_use)
    row.fields, row.version, row.updated_at = form.model_dump()["fields"], version + 1, utcnow()
    audit.record(db, principal, event_id, "feedback.form", "", fields=len(form.fields))
    return row


# ---- individual ratings -----------------------------------------------------------------------


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    day: int = Field(ge=1, le=5)
    accessibility: int | None = Field(None, ge=1, le=5)
    comment: str = Field("", max_length=2000)
    anonymous: bool = False


def rater_key(secret: str, event_id: int, registration_id: int) -> str:
    """A keyed hash: one rating per participant, without storing who gave an anonymous one."""
    msg = f"feedback.rating:{event_id}:{registration_id}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


async def rate(
    db: AsyncSession, secret: str, event_id: int, principal: Principal, data: RatingIn
) -> FeedbackRating:
    """Store or replace the caller's rating of the day."""
    if principal.kind != "participant" or principal.event_id != event_id:
        raise Forbidden(
            "Endast anmälda deltagare kan betygsätta dagen.", key="auth.forbidden.rating"
        )
    key = rater_key(secret, event_id, principal.id)
    row = await db.scalar(
        select(FeedbackRating).where(
            FeedbackRating.event_id == event_id, FeedbackRating.rater_key == key
        )
    )
    if row is None:
        row = FeedbackRating(event_id=event_id, rater_key=key)
        db.add(row)
    row.registration_id = None if data.anonymous else principal.id
    row.region_code = None if data.anonymous else principal.region_code
    row.day, row.accessibility, row.comment = data.day, data.accessibility, data.comment
    row.updated_at = utcnow()
    await db.flush()
    return row


async def my_rating(
    db: AsyncSession, secret: str, event_id: int, principal: Principal
) -> FeedbackRating | None:
    if principal.kind != "participant":
        return None
    key = rater_key(secret, event_id, principal.id)
    return await db.scalar(
        select(FeedbackRating).where(
            FeedbackRating.event_id == event_id, FeedbackRating.rater_key == key
        )
    )
