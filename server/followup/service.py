"""Regional follow-up meetings (issue 24 point 1): after the webcast a region's facilitator, or
a facilitator of a group of regions, or KB's moderators, schedule a meeting for the region (or a
joint one across county borders) at their own date and time, with an agenda of programme items
and §18 themes, and invite the municipalities' participants by a link and by e-mail.

The meeting's room is the breakout machinery's: a round of kind "followup" with one room whose
regions are the meeting's. Its media, chat and notes per theme are the breakout room's; who may
enter is breakout's one rule (membership.room_access): the people the meeting link let in (an
assignment to the room), the region's staff facilitators, moderators. The round stays open
until the meeting is closed; its notes then stay readable and feed the event's notes export and
the region's feedback like the day's rooms.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound
from server.followup.models import FollowUpMeeting
from server.mail import outbox
from server.mail.messages import meeting_calendar, render
from server.platform import audit
from server.platform.auth import Principal, new_join_key
from server.platform.errors import DomainError, Forbidden, NotFound
from server.platform.forms import STOCKHOLM, LocalTime, field_error
from server.platform.models import Event, ProgrammeItem, Region, Registration, Theme, utcnow
from server.platform.registration import EMAIL, RegistrationIn
from server.platform.settings import Settings

INVITEES_MAX = 200
"""Addresses one invitation form may mail (a region's municipalities' staff, with room)."""
MEETINGS_PER_EVENT = 200


class InviteForm(BaseModel):
    """Addresses to invite, as a textarea sends them (scheduling, or more invitations later)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    invitees: str = Field("", max_length=INVITEES_MAX * 80)

    @field_validator("invitees")
    @classmethod
    def _addresses(cls, value: str) -> str:
        found = _split(value)
        if len(found) > INVITEES_MAX:
            raise field_error("invitees", "followup.error.too_many")
        if any(not re.match(EMAIL, a) for a in found):
            raise field_error("invitees", "followup.error.invitees")
        return value

    def addresses(self) -> list[str]:
        """The invitees, one address per line (or separated by commas), lower-cased, once."""
        return _split(self.invitees)


def _split(text: str) -> list[str]:
    found = [a.strip().lower() for a in re.split(r"[\n,;]+", text) if a.strip()]
    return list(dict.fromkeys(found))


class MeetingForm(InviteForm):
    """A follow-up meeting as the form sends it."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    starts_at: LocalTime
    ends_at: LocalTime
    regions: list[Annotated[str, Field(max_length=3)]] = Field(default=[], max_length=21)
    items: list[int] = Field(default=[], max_length=60)
    themes: list[Annotated[str, Field(max_length=80)]] = Field(default=[], max_length=30)

    @field_validator("items", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return [v for v in value if str(v).isdigit() and len(str(v)) < 10] \
            if isinstance(value, list) else value

    @field_validator("regions")
    @classmethod
    def _some_region(cls, value: list[str]) -> list[str]:
        if not value:
            raise field_error("regions", "followup.error.no_region")
        return sorted(set(value))

    @model_validator(mode="after")
    def _fits(self) -> MeetingForm:
        if self.starts_at is None:
            raise field_error("starts_at", "error.datetime")
        if self.ends_at is None or self.ends_at <= self.starts_at:
            raise field_error("ends_at", "error.ends_before")
        if (self.ends_at - self.starts_at).total_seconds() > 12 * 3600:
            raise field_error("ends_at", "followup.error.too_long")
        self.themes = list(dict.fromkeys(self.themes))
        self.items = list(dict.fromkeys(self.items))
        return self


def may_lead(principal: Principal, event_id: int, regions: list[str]) -> bool:
    """Moderators and admins lead any meeting; a staff facilitator those of their regions."""
    return principal.is_moderator or (
        bool(regions) and all(principal.leads_region(event_id, code) for code in regions))


def leads_some(principal: Principal, event_id: int) -> bool:
    """Whether the caller may schedule a meeting at all (for the list page's form)."""
    return principal.is_moderator or (principal.role == "facilitator" and principal.at_event
                                      == event_id and bool(principal.regions))


async def schedule(db: AsyncSession, actor: Principal, settings: Settings, event: Event,
                   form: MeetingForm, lang: str) -> FollowUpMeeting:
    """The meeting, its room (an open round of kind "followup" with one room), and the
    invitations in the outbox: all in the caller's transaction."""
    if not may_lead(actor, event.id, form.regions):
        raise DomainError("followup.not_your_region",
                          "Du kan bara planera möten för dina egna regioner.", field="regions")
    await _check_agenda(db, event, form)
    if event.ends_at is not None and form.starts_at is not None \
            and form.starts_at < event.ends_at:
        raise DomainError("followup.before_webcast", "Mötet ska hållas efter webbsändningen.",
                          field="starts_at")
    count = len(list(await db.scalars(select(FollowUpMeeting.id).where(
        FollowUpMeeting.event_id == event.id))))
    if count >= MEETINGS_PER_EVENT:
        raise DomainError("followup.too_many", "Evenemanget har redan för många möten.")
    assert form.starts_at is not None and form.ends_at is not None
    rnd = BreakoutRound(event_id=event.id, kind="followup", status="open", grouping={},
                        opened_at=utcnow(), ends_at=form.ends_at, broadcast="")
    db.add(rnd)
    await db.flush()
    room = BreakoutRoom(round_id=rnd.id, event_id=event.id, key=f"followup-{rnd.id}",
                        name=form.title[:120], regions=form.regions, media=True, position=0)
    db.add(room)
    await db.flush()
    meeting = FollowUpMeeting(
        event_id=event.id, title=form.title, description=form.description,
        starts_at=form.starts_at, ends_at=form.ends_at, regions=form.regions,
        item_ids=form.items, theme_keys=form.themes, round_id=rnd.id, room_id=room.id,
        invite_key=secrets.token_urlsafe(24), created_by=actor.id if actor.is_staff else None)
    db.add(meeting)
    await db.flush()
    invite(db, settings, event, meeting, form.addresses(), actor.name, lang)
    audit.record(db, actor, event.id, "followup.schedule", f"meeting:{meeting.id}",
                 regions=form.regions, invited=len(form.addresses()))
    return meeting


async def _check_agenda(db: AsyncSession, event: Event, form: MeetingForm) -> None:
    known = set(await db.scalars(select(Region.code).where(Region.code.in_(form.regions))))
    if known != set(form.regions):
        raise DomainError("followup.unknown_region", "Okänd region.", field="regions")
    items = set(await db.scalars(select(ProgrammeItem.id).where(
        ProgrammeItem.event_id == event.id, ProgrammeItem.id.in_(form.items or [0]))))
    if items != set(form.items):
        raise DomainError("followup.unknown_item", "Programpunkten finns inte i evenemanget.",
                          field="items")
    themes = set(await db.scalars(select(Theme.key).where(
        Theme.event_id == event.id, Theme.key.in_(form.themes or [""]))))
    if themes != set(form.themes):
        raise DomainError("followup.unknown_theme", "Temat finns inte i evenemanget.",
                          field="themes")


def join_url(settings: Settings, event: Event, meeting: FollowUpMeeting) -> str:
    return (f"{settings.public_url.rstrip('/')}/e/{event.slug}/followup/{meeting.id}"
            f"/join/{meeting.invite_key}")


def invite(db: AsyncSession, settings: Settings, event: Event, meeting: FollowUpMeeting,
           addresses: list[str], inviter: str, lang: str) -> int:
    """Mail the meeting's link and a calendar invitation to each address (the outbox sends)."""
    for address in addresses:
        subject, body = render(
            "followup", lang, title=meeting.title, event=event.title, inviter=inviter,
            starts=_when(meeting.starts_at), ends=_when(meeting.ends_at, "%H:%M"),
            url=join_url(settings, event, meeting))
        outbox.enqueue(db, kind="followup", to=address, subject=subject, body=body,
                       event_id=event.id, calendar=meeting_calendar(
                           settings, uid=f"followup-{meeting.id}-{address}",
                           sequence=0, starts=meeting.starts_at, ends=meeting.ends_at,
                           summary=meeting.title, link=join_url(settings, event, meeting),
                           lang=lang, attendee=address, link_label="followup.calendar_link"))
    return len(addresses)


def _when(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(STOCKHOLM).strftime(fmt)


async def get(db: AsyncSession, event: Event, meeting_id: int) -> FollowUpMeeting:
    meeting = await db.get(FollowUpMeeting, meeting_id) if 0 < meeting_id < 2**31 else None
    if meeting is None or meeting.event_id != event.id or meeting.status == "cancelled":
        raise NotFound("followup.not_found", "Mötet finns inte.")
    return meeting


async def by_key(db: AsyncSession, event: Event, meeting_id: int, key: str) -> FollowUpMeeting:
    """The meeting the link names, if the link is its current one (else `followup.not_found`,
    the same for a wrong key as for no meeting)."""
    meeting = await get(db, event, meeting_id)
    if not (isinstance(key, str) and len(key) <= 64
            and secrets.compare_digest(meeting.invite_key, key)):
        raise NotFound("followup.not_found", "Mötet finns inte.")
    return meeting


async def is_member(db: AsyncSession, principal: Principal, meeting: FollowUpMeeting) -> bool:
    """In the meeting: its leaders, and participants its link let in."""
    if may_lead(principal, meeting.event_id, meeting.regions):
        return True
    if principal.kind != "participant" or principal.event_id != meeting.event_id:
        return False
    return await db.scalar(select(BreakoutAssignment.room_id).where(
        BreakoutAssignment.round_id == meeting.round_id,
        BreakoutAssignment.registration_id == principal.id)) is not None


async def admit(db: AsyncSession, meeting: FollowUpMeeting, registration_id: int) -> None:
    """A participant of the event enters the meeting's room (once)."""
    if meeting.status != "scheduled":
        raise DomainError("followup.closed", "Mötet är avslutat.")
    found = await db.get(BreakoutAssignment, (meeting.round_id, registration_id))
    if found is None:
        db.add(BreakoutAssignment(round_id=meeting.round_id, registration_id=registration_id,
                                  room_id=meeting.room_id))


async def newcomer(db: AsyncSession, event: Event, meeting: FollowUpMeeting,
                   data: RegistrationIn, lang: str) -> Registration:
    """Someone from a municipality who did not register for the webcast: a registration of the
    event (their questions, notes and feedback belong to it), outside its registration window
    and cap (the meeting's link is the invitation), in one of the meeting's regions."""
    if data.region not in meeting.regions:
        raise DomainError("followup.region", "Välj en av mötets regioner.", field="region")
    reg = Registration(
        event_id=event.id, name=data.name, email=data.email or None,
        organisation=data.organisation, municipality=data.municipality,
        region_code=data.region, job_role=data.job_role, attendance="online",
        join_key=new_join_key(), language=lang if lang in ("sv", "en") else "sv",
        confirmed_at=utcnow())
    db.add(reg)
    await db.flush()
    await admit(db, meeting, reg.id)
    return reg


async def close(db: AsyncSession, actor: Principal, meeting: FollowUpMeeting) -> None:
    """The meeting is over: its room's media and chat end, its notes stay readable."""
    require_leader(actor, meeting)
    rnd = await db.get(BreakoutRound, meeting.round_id)
    if rnd is not None and rnd.status == "open":
        rnd.status, rnd.closed_at = "closed", utcnow()
    meeting.status = "closed"
    audit.record(db, actor, meeting.event_id, "followup.close", f"meeting:{meeting.id}")


async def new_link(db: AsyncSession, actor: Principal, meeting: FollowUpMeeting) -> None:
    """A new meeting link; the old one stops working (people already in stay in)."""
    require_leader(actor, meeting)
    meeting.invite_key = secrets.token_urlsafe(24)
    audit.record(db, actor, meeting.event_id, "followup.new_link", f"meeting:{meeting.id}")


def require_leader(actor: Principal, meeting: FollowUpMeeting) -> None:
    if not may_lead(actor, meeting.event_id, meeting.regions):
        raise Forbidden("Bara mötets samtalsledare kan göra detta.", key="followup.leaders_only")


async def listing(db: AsyncSession, principal: Principal, event: Event) -> list[FollowUpMeeting]:
    """The event's meetings the caller leads or is in (moderators: all), by start."""
    rows = list(await db.scalars(select(FollowUpMeeting).where(
        FollowUpMeeting.event_id == event.id, FollowUpMeeting.status != "cancelled",
    ).order_by(FollowUpMeeting.starts_at, FollowUpMeeting.id)))
    return [m for m in rows if principal.is_moderator or await is_member(db, principal, m)]


async def agenda(db: AsyncSession, meeting: FollowUpMeeting) -> dict[str, Any]:
    """The agenda's programme items (in programme order) and themes, and the regions' names."""
    items = list(await db.scalars(select(ProgrammeItem).where(
        ProgrammeItem.id.in_(meeting.item_ids or [0])).order_by(ProgrammeItem.starts_at)))
    themes = list(await db.scalars(select(Theme).where(
        Theme.event_id == meeting.event_id, Theme.key.in_(meeting.theme_keys or [""]),
    ).order_by(Theme.position)))
    regions = list(await db.execute(select(Region.code, Region.name).where(
        Region.code.in_(meeting.regions)).order_by(Region.name)))
    members = len(list(await db.scalars(select(BreakoutAssignment.registration_id).where(
        BreakoutAssignment.round_id == meeting.round_id))))
    return {"items": items, "themes": themes, "regions": regions, "members": members}
