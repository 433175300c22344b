"""What the platform writes to people: each mail's subject and text in the reader's language
(templates/mail/<kind>.txt, strings from the catalogue), and the calendar invitation.

The text is plain (no HTML part): it reads the same in every client and a screen reader, and
there is no markup to inject into. Header values never carry a line break (`one_line`), and
every address is checked again as one addr-spec before it reaches a header (`address`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from icalendar import Calendar, vCalAddress, vText
from icalendar import Event as VEvent

from server.platform.i18n import translate
from server.platform.models import Event, Registration, utcnow
from server.platform.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
DEFAULT_LENGTH = timedelta(hours=3)
"""An event without an end time lasts this long in the calendar."""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def address(value: str) -> Address:
    """One mailbox, or ValueError: never a list, a display name or a header break."""
    name, spec = parseaddr(value)
    if not spec or spec != value.strip() or any(c in spec for c in ",;<>\r\n\"\\ "):
        raise ValueError("not one address")
    local, _, domain = spec.rpartition("@")
    if not local or not domain:
        raise ValueError("not one address")
    return Address(username=local, domain=domain)


def sender(settings: Settings) -> Address:
    name, spec = parseaddr(settings.mail_from)
    local, _, domain = spec.rpartition("@")
    return Address(display_name=one_line(name, 80), username=local, domain=domain)


def when(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") if value else ""


def join_url(settings: Settings, event: Event, reg: Registration) -> str:
    return f"{settings.public_url.rstrip('/')}/e/{event.slug}/join/{reg.join_key}"


def event_title(event: Event, lang: str) -> str:
    return one_line((event.title_en if lang == "en" and event.title_en else event.title) or "")


def render(kind: str, lang: str, **context: Any) -> tuple[str, str]:
    """(subject, body) of one kind of mail in `lang`."""
    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    template = _environment().get_template(f"{kind}.txt")
    body = template.render(t=t, lang=lang, **context)
    subject = t(f"mail.{kind}.subject", title=context.get("title", ""))
    return one_line(subject, 300), body


def for_registration(kind: str, settings: Settings, event: Event,
                     reg: Registration) -> dict[str, Any]:
    """The outbox row's content (subject, body, calendar) of a mail to one registration."""
    lang = reg.language if reg.language in ("sv", "en") else "sv"
    base = settings.public_url.rstrip("/")
    subject, body = render(
        kind, lang, title=event_title(event, lang), name=one_line(reg.name, 120),
        starts=when(event.starts_at), ends=when(event.ends_at),
        location=one_line(event.location or ""), join_url=join_url(settings, event, reg),
        event_url=f"{base}/e/{event.slug}", privacy_url=f"{base}/integritet",
        link_url=f"{base}/e/{event.slug}/link",
        confirm=kind == "confirmation" and reg.confirmed_at is None,
    )
    calendar = (invitation(settings, event, reg)
                if kind in ("confirmation", "update") else None)
    return {"subject": subject, "body": body, "calendar": calendar}


def for_link_request(settings: Settings, event: Event, regs: list[Registration]) -> dict[str, Any]:
    """"Send me my link again": every registration of the address for the event (a person may
    have registered twice with one address)."""
    lang = regs[0].language if regs[0].language in ("sv", "en") else "sv"
    base = settings.public_url.rstrip("/")
    subject, body = render(
        "link", lang, title=event_title(event, lang), starts=when(event.starts_at),
        links=[(one_line(r.name, 120), join_url(settings, event, r)) for r in regs],
        event_url=f"{base}/e/{event.slug}", privacy_url=f"{base}/integritet",
    )
    return {"subject": subject, "body": body, "calendar": None}


def invitation(settings: Settings, event: Event, reg: Registration) -> str:
    """An iCalendar REQUEST for the event, one UID per event and registration, its SEQUENCE the
    event's schedule version: a calendar that holds the invitation replaces it with an update."""
    lang = reg.language if reg.language in ("sv", "en") else "sv"
    return meeting_calendar(
        settings, uid=f"event-{event.id}-registration-{reg.id}",
        sequence=event.schedule_version, starts=event.starts_at,
        ends=event.ends_at or event.starts_at + DEFAULT_LENGTH, summary=event_title(event, lang),
        location=event.location or "", link=join_url(settings, event, reg), lang=lang,
        attendee=reg.email or "", attendee_name=reg.name)


def meeting_calendar(settings: Settings, *, uid: str, sequence: int, starts: datetime,
                     ends: datetime, summary: str, link: str, lang: str, location: str = "",
                     attendee: str = "", attendee_name: str = "",
                     link_label: str = "mail.calendar.link") -> str:
    """An iCalendar REQUEST for one meeting (the event, a follow-up meeting): `uid` (this site's
    host is added) names it in the receiver's calendar, a higher `sequence` updates it."""
    host = urlsplit(settings.public_url).hostname or "traffpunkt"
    cal = Calendar()
    cal.add("prodid", "-//Träffpunkt//traffpunkt//SV")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    item = VEvent()
    item.add("uid", f"{uid}@{host}")
    item.add("sequence", sequence)
    item.add("dtstamp", utcnow())
    item.add("dtstart", starts.astimezone(UTC))
    item.add("dtend", ends.astimezone(UTC))
    item.add("summary", one_line(summary))
    if location:
        item.add("location", one_line(location))
    item.add("description", vText(f"{translate(lang, link_label)}: {link}"))
    item.add("url", link)
    organizer = vCalAddress(f"mailto:{sender(settings).addr_spec}")
    organizer.params["cn"] = vText(sender(settings).display_name or "Träffpunkt")
    item.add("organizer", organizer)
    if attendee:
        person = vCalAddress(f"mailto:{attendee}")
        person.params["cn"] = vText(one_line(attendee_name or attendee, 120))
        person.params["rsvp"] = "FALSE"
        item.add("attendee", person)
    cal.add_component(item)
    return str(cal.to_ical().decode("utf-8"))


def email_message(settings: Settings, *, to: str, subject: str, body: str,
                  calendar: str | None) -> EmailMessage:
    """The MIME message of one outbox row."""
    msg = EmailMessage()
    msg["From"] = sender(settings)
    msg["To"] = address(to)
    msg["Subject"] = one_line(subject, 300)
    msg["Message-ID"] = make_msgid(domain=sender(settings).domain or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    if calendar:
        msg.add_attachment(calendar.encode("utf-8"), maintype="text", subtype="calendar",
                           params={"method": "REQUEST", "charset": "utf-8"},
                           filename="invitation.ics")
    return msg
