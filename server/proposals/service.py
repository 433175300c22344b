"""Proposals (issue 24 point 4): after a Träffpunkt the regions and municipalities propose
content for the next one, and reports or examples of national interest (a title, a
description, a §18 theme, who proposes, links or a document). KB's moderators review them
(new, under consideration, accepted, declined) with a note back to the proposer, who sees it
on their page and gets it by mail; an accepted content proposal becomes an item of another
event's programme in one step.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.mail import outbox
from server.mail.messages import render
from server.platform import audit, documents
from server.platform.auth import Principal
from server.platform.errors import DomainError, NotFound
from server.platform.models import Event, ProgrammeItem, Region, Registration, Theme, utcnow
from server.platform.registration import EMAIL
from server.platform.settings import Settings
from server.proposals.models import Proposal

PER_PERSON = 20
LINKS_MAX = 5
Url = Annotated[str, Field(max_length=500, pattern=r"^https?://[^\s<>\"]+$")]


class ProposalForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    kind: Literal["content", "report"]
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    theme: str = Field("", max_length=80)
    proposer: str = Field(min_length=1, max_length=120)
    organisation: str = Field(min_length=1, max_length=200)
    region: str = Field("", max_length=3)
    municipality: str = Field("", max_length=120)
    email: str = Field("", max_length=254)
    links: list[Url] = Field(default=[], max_length=LINKS_MAX)

    @field_validator("links", mode="before")
    @classmethod
    def _lines(cls, value: object) -> object:
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        import re

        if value and not re.match(EMAIL, value):
            raise ValueError("email")
        return value.lower()


class ReviewForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    status: Literal["new", "considering", "accepted", "declined"]
    note: str = Field("", max_length=2000)


async def submit(db: AsyncSession, author: Principal, settings: Settings, event: Event,
                 form: ProposalForm, document: tuple[str, bytes] | None) -> Proposal:
    """Store a proposal (its document checked and stored first)."""
    mine = await db.scalar(select(func.count(Proposal.id)).where(
        Proposal.event_id == event.id, _by(author)))
    if (mine or 0) >= PER_PERSON:
        raise DomainError("proposals.limit", "Du har redan lämnat 20 förslag.")
    if form.theme and form.theme not in {th.key for th in await _themes(db, event.id)}:
        raise DomainError("proposals.theme", "Temat finns inte.", field="theme")
    if form.region and await db.get(Region, form.region) is None:
        raise DomainError("proposals.region", "Okänd region.", field="region")
    row = Proposal(
        event_id=event.id, kind=form.kind, title=form.title, description=form.description,
        theme_key=form.theme, proposer=form.proposer, organisation=form.organisation,
        region_code=form.region or None, municipality=form.municipality,
        email=form.email or None, links=form.links,
        registration_id=author.id if author.kind == "participant" else None,
        user_id=author.id if author.is_staff else None)
    if document is not None:
        name, data = document
        kind = documents.document_kind(data, name)
        row.document_kind, row.document_name = kind, documents.clean_filename(name, kind)
        row.document_path = await documents.store(settings.media_root, f"proposals/{event.id}",
                                                  kind, data)
    db.add(row)
    await db.flush()
    audit.record(db, author, event.id, "proposals.submit", f"proposal:{row.id}", kind=form.kind)
    return row


def _by(author: Principal) -> Any:
    if author.kind == "participant":
        return Proposal.registration_id == author.id
    return Proposal.user_id == author.id


async def mine(db: AsyncSession, author: Principal, event_id: int) -> list[Proposal]:
    return list(await db.scalars(select(Proposal).where(
        Proposal.event_id == event_id, _by(author)).order_by(Proposal.id.desc())))


async def get(db: AsyncSession, event_id: int, ident: int) -> Proposal:
    row = await db.get(Proposal, ident) if 0 < ident < 2**31 else None
    if row is None or row.event_id != event_id:
        raise NotFound("proposals.not_found", "Förslaget finns inte.")
    return row


def may_read(principal: Principal, row: Proposal) -> bool:
    """KB's moderators, and the one who proposed it."""
    if principal.is_moderator:
        return True
    if principal.kind == "participant":
        return row.registration_id == principal.id
    return row.user_id == principal.id


class Filters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    region: str = Field("", max_length=3)
    theme: str = Field("", max_length=80)
    status: Literal["", "new", "considering", "accepted", "declined"] = ""
    kind: Literal["", "content", "report"] = ""


async def review_list(db: AsyncSession, event_id: int, filters: Filters) -> list[Proposal]:
    query = select(Proposal).where(Proposal.event_id == event_id)
    if filters.region:
        query = query.where(Proposal.region_code == filters.region)
    if filters.theme:
        query = query.where(Proposal.theme_key == filters.theme)
    if filters.status:
        query = query.where(Proposal.status == filters.status)
    if filters.kind:
        query = query.where(Proposal.kind == filters.kind)
    return list(await db.scalars(query.order_by(Proposal.id.desc())))


async def counts(db: AsyncSession, event_id: int) -> dict[str, Counter[str]]:
    """Proposals per region and per theme (all states)."""
    rows = (await db.execute(select(Proposal.region_code, Proposal.theme_key).where(
        Proposal.event_id == event_id))).all()
    return {"region": Counter(r or "" for r, _ in rows), "theme": Counter(t or "" for _, t in rows)}


async def review(db: AsyncSession, actor: Principal, settings: Settings, event: Event,
                 row: Proposal, form: ReviewForm, lang: str) -> None:
    """KB's decision and note; the proposer is told by mail when they gave an address."""
    actor.require_moderator()
    changed = (row.status, row.note) != (form.status, form.note)
    row.status, row.note = form.status, form.note
    row.reviewed_at, row.reviewed_by = utcnow(), actor.name[:120]
    audit.record(db, actor, event.id, "proposals.review", f"proposal:{row.id}",
                 status=form.status)
    if changed and row.email:
        subject, body = render(
            "proposal", lang, title=row.title, event=event.title,
            status=form.status, note=form.note,
            url=f"{settings.public_url.rstrip('/')}/e/{event.slug}/proposals")
        outbox.enqueue(db, kind="proposal", to=row.email, subject=subject, body=body,
                       event_id=event.id, registration_id=row.registration_id)


async def take_into_programme(db: AsyncSession, actor: Principal, row: Proposal,
                              target: Event) -> ProgrammeItem:
    """An accepted content proposal becomes the last item of `target`'s programme (the
    proposer's organisation with it, its links as material), once."""
    actor.require_moderator()
    if row.kind != "content" or row.status != "accepted":
        raise DomainError("proposals.not_accepted",
                          "Bara ett antaget förslag om innehåll kan tas in i programmet.")
    if row.item_id is not None:
        raise DomainError("proposals.already_taken", "Förslaget finns redan i ett program.")
    if target.id == row.event_id or target.status == "archived":
        raise DomainError("proposals.target", "Välj ett kommande evenemang.", field="event")
    last = await db.scalar(select(func.max(ProgrammeItem.position)).where(
        ProgrammeItem.event_id == target.id))
    item = ProgrammeItem(
        event_id=target.id, position=(last or 0) + 1, title=row.title[:300],
        description=row.description, organisations=[row.organisation] if row.organisation else [],
        materials=[{"label": link, "url": link} for link in row.links])
    db.add(item)
    await db.flush()
    row.item_id, row.item_event_id = item.id, target.id
    audit.record(db, actor, target.id, "proposals.take", f"proposal:{row.id}", item=item.id)
    return item


async def targets(db: AsyncSession, event: Event) -> list[Event]:
    """Events a proposal can go into: drafts and published ones other than its own."""
    return list(await db.scalars(select(Event).where(
        Event.id != event.id, Event.status != "archived").order_by(Event.starts_at.desc())))


async def _themes(db: AsyncSession, event_id: int) -> list[Theme]:
    return list(await db.scalars(select(Theme).where(Theme.event_id == event_id)
                                 .order_by(Theme.position)))


async def defaults(db: AsyncSession, principal: Principal) -> dict[str, str]:
    """The form filled in from the person's registration (participants)."""
    if principal.kind != "participant":
        return {"proposer": principal.name, "kind": "content"}
    reg = await db.get(Registration, principal.id)
    if reg is None:
        return {"kind": "content"}
    return {"proposer": reg.name, "organisation": reg.organisation,
            "region": reg.region_code or "", "municipality": reg.municipality,
            "email": reg.email or "", "kind": "content"}


async def forget(db: AsyncSession, registration_id: int) -> None:
    """A deleted registration's proposals stay (they are the region's or municipality's), with
    neither their name nor their address."""
    for row in await db.scalars(select(Proposal).where(
            Proposal.registration_id == registration_id)):
        row.proposer, row.email, row.registration_id = "", None, None


