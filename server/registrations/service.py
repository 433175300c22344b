"""Registrations as organisers see them: search and filter, counts per region, export rows,
correct one, give someone a new join link, delete one (by staff, or the person themself).

Deleting a registration deletes the person, not what others made: their questions stay (as
anonymous, without their name), as do the notes and feedback of their rooms and region; their
own votes, poll answers and room places go with them, and every session they had ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit, sessions
from server.platform.auth import Principal, new_join_key
from server.platform.errors import DomainError, NotFound
from server.platform.models import Event, Region, Registration, WebSession, utcnow
from server.platform.registration import NATIONAL, Forgetting, RegistrationIn
from server.qa.service import rename_author

PAGE_SIZE = 100
ATTENDANCE = ("online", "on_site")
STATES = ("confirmed", "unconfirmed")
EXPORT_COLUMNS = ("id", "name", "email", "organisation", "municipality", "region_code",
                  "region", "job_role", "attendance", "language", "confirmed_at", "created_at")


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; every value already checked (`from_args`)."""

    q: str = ""
    region: str = ""
    municipality: str = ""
    attendance: str = ""
    state: str = ""

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        def text(name: str, limit: int) -> str:
            value = args.get(name, "")
            return " ".join(str(value).split())[:limit] if isinstance(value, str) else ""

        attendance = text("attendance", 10)
        state = text("state", 12)
        return cls(q=text("q", 100), region=text("region", 10),
                   municipality=text("municipality", 120),
                   attendance=attendance if attendance in ATTENDANCE else "",
                   state=state if state in STATES else "")

    def query(self, event: Event) -> Select[Any]:
        query = select(Registration).where(Registration.event_id == event.id)
        if self.q:
            like = f"%{_escape_like(self.q.casefold())}%"
            query = query.where(or_(*(
                func.lower(column).like(like, escape="\\") for column in (
                    Registration.name, Registration.email, Registration.organisation,
                    Registration.municipality, Registration.job_role))))
        if self.region == NATIONAL:
            query = query.where(Registration.region_code.is_(None))
        elif self.region:
            query = query.where(Registration.region_code == self.region)
        if self.municipality:
            query = query.where(
                func.lower(Registration.municipality) == self.municipality.casefold())
        if self.attendance:
            query = query.where(Registration.attendance == self.attendance)
        if self.state == "confirmed":
            query = query.where(Registration.confirmed_at.is_not(None))
        elif self.state == "unconfirmed":
            query = query.where(Registration.confirmed_at.is_(None))
        return query

    def args(self) -> dict[str, str]:
        """The filters as query-string values (for links to pages and exports)."""
        return {k: v for k, v in self.__dict__.items() if v}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(db: AsyncSession, event: Event, filters: Filters, page: int = 1,
                 ) -> tuple[list[Registration], int]:
    """One page of the matching registrations (by name), and how many match in all."""
    query = filters.query(event)
    total = int(await db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(await db.scalars(query.order_by(func.lower(Registration.name), Registration.id)
                                 .offset((max(1, page) - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return rows, total


async def region_counts(db: AsyncSession, event: Event) -> list[dict[str, Any]]:
    """Per region (and the national level): registrations that count, on site and online, and
    those waiting for their address to be confirmed."""
    rows = (await db.execute(
        select(Registration.region_code, Registration.attendance,
               Registration.confirmed_at.is_not(None), func.count())
        .where(Registration.event_id == event.id)
        .group_by(Registration.region_code, Registration.attendance,
                  Registration.confirmed_at.is_not(None)))).all()
    names = {r.code: r.name for r in await db.scalars(select(Region).order_by(Region.name))}
    table: dict[str | None, dict[str, Any]] = {}
    for code, attendance, confirmed, n in rows:
        entry = table.setdefault(code, {"code": code or NATIONAL, "name": names.get(code or ""),
                                        "online": 0, "on_site": 0, "unconfirmed": 0})
        if confirmed:
            entry[attendance if attendance in ATTENDANCE else "online"] += int(n)
        else:
            entry["unconfirmed"] += int(n)
    for entry in table.values():
        entry["total"] = entry["online"] + entry["on_site"]
    return sorted(table.values(), key=lambda e: (e["name"] is None, e["name"] or ""))


async def export_rows(db: AsyncSession, event: Event, filters: Filters) -> list[dict[str, Any]]:
    names = {r.code: r.name for r in await db.scalars(select(Region))}
    regs = await db.scalars(filters.query(event).order_by(Registration.id))
    return [{
        "id": r.id, "name": r.name, "email": r.email or "", "organisation": r.organisation,
        "municipality": r.municipality, "region_code": r.region_code or "",
        "region": names.get(r.region_code or "", ""), "job_role": r.job_role,
        "attendance": r.attendance, "language": r.language,
        "confirmed_at": r.confirmed_at.isoformat() if r.confirmed_at else "",
        "created_at": r.created_at.isoformat(),
    } for r in regs]


async def get(db: AsyncSession, event: Event, ident: int) -> Registration:
    reg = await db.get(Registration, ident) if 0 < ident < 2**31 else None
    if reg is None or reg.event_id != event.id:
        raise NotFound("registration.not_found", "Anmälan finns inte.",
                       key="registration.not_found.staff")
    return reg


async def correct(db: AsyncSession, actor: Principal, reg: Registration,
                  data: RegistrationIn) -> list[str]:
    """Staff correct a registration; the names of the fields that changed (for the audit)."""
    region = None if data.region == NATIONAL else data.region
    if region is not None and await db.get(Region, region) is None:
        raise DomainError("registration.region", "Okänd region.", field="region")
    values = {"name": data.name, "email": data.email or None, "organisation": data.organisation,
              "municipality": data.municipality, "region_code": region,
              "job_role": data.job_role, "attendance": data.attendance}
    changed = [k for k, v in values.items() if getattr(reg, k) != v]
    for key in changed:
        setattr(reg, key, values[key])
    if "name" in changed:  # their questions show the name they now have
        await rename_author(db, reg.id, reg.name)
    if changed:
        audit.record(db, actor, reg.event_id, "registration.correct", str(reg.id),
                     fields=changed)
    return changed


async def new_link(db: AsyncSession, actor: Principal, reg: Registration) -> list[str]:
    """A new join link: the old one stops working, and so does every session opened with it
    (their ids, for their sockets)."""
    reg.join_key = new_join_key()
    audit.record(db, actor, reg.event_id, "registration.new_link", str(reg.id))
    return await sessions.end_every(db, registration_id=reg.id)


async def remove(db: AsyncSession, actor: Principal, reg: Registration,
                 forgetting: Forgetting) -> list[str]:
    """Delete a registration: what others see of the person becomes anonymous first (every
    feature's `forget`), in the same transaction; their sessions end (their ids, for their
    sockets)."""
    await forgetting(db, reg.id)
    ended = await sessions.end_every(db, registration_id=reg.id)
    audit.record(db, actor, reg.event_id, "registration.delete", str(reg.id),
                 by="self" if actor.kind == "participant" else "staff")
    await db.delete(reg)
    await db.flush()
    return ended


# -- retention -------------------------------------------------------------------------------

RETENTION_RANGE = (1, 120)
RETENTION_BATCH = 500


def retention(event: Event) -> timedelta:
    return timedelta(days=round(event.retention_months * 365.25 / 12))


def retention_ends(event: Event) -> datetime:
    """When the event's registrations are anonymised: `retention_months` after it ended (a
    registration made later, to watch the recording, is kept as long after it was made)."""
    return (event.ends_at or event.starts_at) + retention(event)


async def set_retention(db: AsyncSession, actor: Principal, event: Event, months: int) -> None:
    low, high = RETENTION_RANGE
    if not low <= months <= high:
        raise DomainError("registration.bad_retention", "Ange mellan {low} och {high} månader.",
                          field="months", low=low, high=high)
    event.retention_months = months
    audit.record(db, actor, event.id, "registration.retention", event.slug, months=months)


async def anonymise_expired(db: AsyncSession, forgetting: Forgetting,
                            now: datetime | None = None) -> int:
    """Anonymise the registrations of every event past its retention period, each registration
    also at least that long after it was made: name, address, organisation and role go
    (region, municipality and attendance stay for the statistics), the join link and every
    session end, and what others see becomes anonymous."""
    now = now or utcnow()
    done = 0
    for event in await db.scalars(select(Event)):
        if retention_ends(event) > now:
            continue
        regs = list(await db.scalars(select(Registration).where(
            Registration.event_id == event.id, Registration.anonymised_at.is_(None),
            Registration.created_at <= now - retention(event),
        ).limit(RETENTION_BATCH)))
        for reg in regs:
            await forgetting(db, reg.id)
            reg.name, reg.email, reg.organisation, reg.job_role = "", None, "", ""
            reg.join_key, reg.anonymised_at = new_join_key(), now
        if regs:
            await db.execute(delete(WebSession).where(
                WebSession.registration_id.in_([r.id for r in regs])))
            done += len(regs)
    return done
