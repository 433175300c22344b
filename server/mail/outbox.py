"""The outbox's domain: what goes in (in the caller's transaction), what is due, and what
happened to it. The sender (sender.py) drives it; views and other features only enqueue."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.mail import messages
from server.mail.models import OutboxMessage
from server.platform.models import Event, Registration, utcnow
from server.platform.settings import Settings

BACKOFF_FIRST = 30.0
BACKOFF_MAX = 3600.0
MAX_ATTEMPTS = 30
"""A message is retried for about a day (30 s doubling, then hourly) before it is failed."""
CLAIM = timedelta(minutes=2)
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`, with ±20 % jitter so a recovered server is not
    hit by every node's whole queue in the same second."""
    base = min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_MAX)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def enqueue(db: AsyncSession, *, kind: str, to: str, subject: str = "", body: str = "",
            calendar: str | None = None, event_id: int | None = None,
            registration_id: int | None = None, due: datetime | None = None) -> OutboxMessage:
    """A mail, stored with the caller's transaction (sent only if it commits)."""
    row = OutboxMessage(kind=kind, to_address=to, subject=subject, body=body,
                        calendar=calendar, event_id=event_id, registration_id=registration_id,
                        next_attempt_at=due or utcnow())
    db.add(row)
    return row


def to_registration(db: AsyncSession, settings: Settings, kind: str, event: Event,
                    reg: Registration) -> OutboxMessage | None:
    """Mail `kind` (confirmation, reminder, update) to a registration; None without address."""
    if not reg.email:
        return None
    return enqueue(db, kind=kind, to=reg.email, event_id=event.id, registration_id=reg.id,
                   **messages.for_registration(kind, settings, event, reg))


def send_link(db: AsyncSession, settings: Settings, event: Event,
              reg: Registration) -> OutboxMessage | None:
    """The person's (new) join link, to their address; None without one."""
    if not reg.email:
        return None
    return enqueue(db, kind="link", to=reg.email, event_id=event.id, registration_id=reg.id,
                   **messages.for_link_request(settings, event, [reg]))


def link_request(db: AsyncSession, event: Event, email: str) -> None:
    """"Send me my link again". Whether the address is registered is looked up later, by the
    sender (`resolve_link_requests`): the request is answered the same, in the same time,
    either way."""
    enqueue(db, kind="link_request", to=email, event_id=event.id)


async def schedule_changed(db: AsyncSession, settings: Settings, event: Event) -> int:
    """The event's time or place changed: a new calendar version to everyone registered."""
    event.schedule_version = (event.schedule_version or 0) + 1
    regs = await db.scalars(select(Registration).where(
        Registration.event_id == event.id, Registration.email.is_not(None),
        Registration.confirmed_at.is_not(None)))
    return sum(1 for reg in regs if to_registration(db, settings, "update", event, reg))


async def forget_recipient(db: AsyncSession, registration_id: int) -> None:
    """A registration is deleted or anonymised: its mail (addresses, join links) goes too."""
    await db.execute(delete(OutboxMessage).where(
        OutboxMessage.registration_id == registration_id))


# -- housekeeping (the sender calls these, with or without an SMTP server) ------------------


async def resolve_link_requests(db: AsyncSession, settings: Settings) -> int:
    """Turn each pending link request into the mail with the address's join links, or drop it
    (unknown address: no mail, and the typed address is not kept)."""
    rows = list(await db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "link_request", OutboxMessage.state == "queued").limit(BATCH)))
    for row in rows:
        event = await db.get(Event, row.event_id) if row.event_id else None
        regs = [] if event is None else list(await db.scalars(select(Registration).where(
            Registration.event_id == event.id,
            func.lower(Registration.email) == row.to_address.lower(),
        ).order_by(Registration.id).limit(5)))
        if event is None or not regs:
            await db.delete(row)
            continue
        content = messages.for_link_request(settings, event, regs)
        row.kind, row.registration_id = "link", regs[0].id
        row.subject, row.body, row.calendar = content["subject"], content["body"], None
        row.to_address = regs[0].email or row.to_address
    return len(rows)


async def enqueue_reminders(db: AsyncSession, settings: Settings, now: datetime) -> int:
    """A reminder to each confirmed registration with an address of an event that starts
    within MAIL_REMINDER_HOURS, once; not to those who registered inside that window (their
    confirmation is fresh)."""
    if settings.mail_reminder_hours <= 0:
        return 0
    window = timedelta(hours=settings.mail_reminder_hours)
    events = list(await db.scalars(select(Event).where(
        Event.starts_at > now, Event.starts_at <= now + window)))
    count = 0
    for event in events:
        reminded = exists().where(OutboxMessage.registration_id == Registration.id,
                                  OutboxMessage.kind == "reminder")
        regs = await db.scalars(select(Registration).where(
            Registration.event_id == event.id, Registration.email.is_not(None),
            Registration.confirmed_at.is_not(None),
            Registration.created_at < event.starts_at - window, ~reminded).limit(1000))
        for reg in regs:
            count += to_registration(db, settings, "reminder", event, reg) is not None
    return count


async def purge(db: AsyncSession, settings: Settings, now: datetime) -> int:
    """Sent and failed mail older than MAIL_KEEP_DAYS: it carries personal join links."""
    result = await db.execute(delete(OutboxMessage).where(
        OutboxMessage.state.in_(("sent", "failed")),
        OutboxMessage.created_at < now - timedelta(days=settings.mail_keep_days)))
    return int(getattr(result, "rowcount", 0) or 0)


# -- sending ---------------------------------------------------------------------------------


async def due_ids(db: AsyncSession, now: datetime) -> list[int]:
    return list(await db.scalars(select(OutboxMessage.id).where(
        OutboxMessage.state == "queued", OutboxMessage.kind != "link_request",
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(BATCH)))


async def claim(db: AsyncSession, ident: int, now: datetime) -> bool:
    """Take one message for sending; False when another node took it first."""
    result = await db.execute(update(OutboxMessage).where(
        OutboxMessage.id == ident, OutboxMessage.state == "queued",
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ).values(claimed_until=now + CLAIM))
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def sent(db: AsyncSession, ident: int) -> None:
    await db.execute(update(OutboxMessage).where(OutboxMessage.id == ident).values(
        state="sent", sent_at=utcnow(), claimed_until=None, last_error="",
        attempts=OutboxMessage.attempts + 1))


async def failed(db: AsyncSession, ident: int, error: str, *, permanent: bool,
                 now: datetime) -> None:
    """A failed attempt: due again after the backoff, or failed for good (a permanent refusal,
    or MAX_ATTEMPTS reached)."""
    row = await db.get(OutboxMessage, ident)
    if row is None:
        return
    row.attempts += 1
    row.last_error = error[:500]
    row.claimed_until = None
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.state = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)


async def retry(db: AsyncSession, ident: int) -> bool:
    """An admin sends a failed message again (now)."""
    result = await db.execute(update(OutboxMessage).where(
        OutboxMessage.id == ident, OutboxMessage.state == "failed",
    ).values(state="queued", next_attempt_at=utcnow(), attempts=0, claimed_until=None))
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def counts(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(select(OutboxMessage.state, func.count()).where(
        OutboxMessage.kind != "link_request").group_by(OutboxMessage.state))
    found = {state: int(n) for state, n in rows.all()}
    return {state: found.get(state, 0) for state in ("queued", "sent", "failed")}


async def listing(db: AsyncSession, state: str | None, limit: int = 200) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind != "link_request")
    if state:
        query = query.where(OutboxMessage.state == state)
    return list(await db.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))

