"""Every page, for every role, on a phone and at 400 % zoom (issue 20; WCAG 2.1 AA beyond axe).

The event is seeded with what a real one gets: long Swedish compound words, links and unbroken
strings typed into names, questions, polls and reports. `PAGES` lists every page of the
platform with who sees it; a new page is covered by adding it there. Each test walks the list
and reports every finding at once (page, width, what), so one run shows all that is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from server.platform.models import utcnow
from tests.conftest import ARCHIVIST, MODERATOR, password_hash
from tests.e2e.conftest import axe_violations, login, new_page
from tests.e2e.wcag import (
    PHONE_WIDTHS,
    focus_problems,
    hover_problems,
    load,
    problems_at,
    text_spacing_problems,
)

pytestmark = pytest.mark.slow

SLUG = "hosten-2020"
LONG_WORD = "Biblioteksplaneuppföljningsarbetsgruppsmötesprotokollsanteckningarna"
LONG_LINK = "https://www.kb.se/samverkan-och-utveckling/biblioteksutveckling/" + "x" * 60
UNBROKEN = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
LONG_NAME = "Maja-Stina Wallenius-Andersson-Kronqvist-Fredriksdotter-Lindgren"
LONG_ORG = "Kulturförvaltningen, Regionbiblioteksverksamheten i Västra Götalandsregionen"
CAPTIONER = ("skrivtolk", "skrivtolk-lösenord-1")
SPEAKER = ("talare", "talare-lösenord-1")
ADMIN = ("admin", "admin-lösenord-1")
STAFF_TOKEN = "reflow-invitation-" + "x" * 30
RESET_TOKEN = "reflow-reset-" + "y" * 30
FACILITATOR_REGION = "M"


@dataclass
class Day:
    """What the seed made that pages need: a participant's and a facilitator's join keys,
    a breakout room, a recording."""

    participant_key: str
    facilitator_key: str
    latecomer_key: str  # registered after the rooms opened: follows the webcast on the live page
    room_id: int
    recording_id: int
    publication_id: int
    participant_id: int
    item_id: int
    staff_id: int  # a speaker with a role at the event (a row on their staff page)
    meeting_id: int  # a follow-up meeting
    meeting_key: str
    film_id: int  # a programme item's film, published beside the whole day


async def seed_busy(url: str, media_root: Path) -> Day:
    """The demo event after an hour of use, through the server's own code."""
    from sqlalchemy import select

    from server.breakout import service as breakout
    from server.captions.models import CaptionLine
    from server.feedback import service as feedback
    from server.feedback.models import FeedbackResponse
    from server.followup import service as followup
    from server.followup.service import MeetingForm
    from server.mail import outbox
    from server.platform.auth import Principal
    from server.platform.db import Database
    from server.platform.models import AccessibilityReport, Event, ProgrammeItem, StaffRole, User
    from server.platform.registration import RegistrationIn, register
    from server.platform.settings import Settings
    from server.polls import service as polls
    from server.proposals.models import Proposal
    from server.qa import service as qa
    from server.recording.models import ChapterMark, Publication, Recording
    from server.staff.models import StaffToken
    from tests.conftest import seed

    await seed(url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            for (username, password), role in ((CAPTIONER, "captioner"), (SPEAKER, "speaker"),
                                               (ADMIN, "admin")):
                session.add(User(username=username, display_name=username.title(), role=role,
                                 password_hash=password_hash(password)))
            event = (await session.scalars(select(Event).where(Event.slug == SLUG))).one()
            mod_user = (await session.scalars(select(User).where(
                User.username == MODERATOR[0]))).one()
            mod = Principal(kind="user", id=mod_user.id, name=mod_user.display_name,
                            role="moderator")
            people = []
            for n, region in enumerate(("M", "M", "AB", "O", "AB", "O")):
                reg = await register(session, event, RegistrationIn(
                    name=f"{LONG_NAME} {n}", email=f"p{n}@example.se", organisation=LONG_ORG,
                    municipality="Sollentuna", region=region, job_role=LONG_WORD))
                people.append(reg)
            for n, reg in enumerate(people[:4]):
                who = Principal(kind="participant", id=reg.id, name=reg.name, event_id=event.id)
                change = await qa.ask(session, who, event.id, (
                    f"Hur följer {LONG_WORD} upp planen? Se {LONG_LINK} och {UNBROKEN} {n}"))
                for q in change.questions:
                    if q.state == "pending":
                        await qa.approve(session, mod, event.id, q.id)
            poll = await polls.create(session, mod, event.id, polls.parse({
                "question": f"Vilken {LONG_WORD} vill ni prata om? {LONG_LINK}"[:200],
                "options": [f"{LONG_WORD}"[:80], f"{UNBROKEN}"[:80], "Båda"]}))
            await polls.open_poll(session, mod, event.id, poll.id)
            opened = await breakout.open_round(
                session, mod, event.id, breakout.parse_grouping({"strategy": "by_region"}),
                {}, [], 30)
            facilitator = people[0]
            await feedback.set_facilitator(session, mod, event.id, FACILITATOR_REGION,
                                           facilitator.id)
            room_id = next(room for reg_id, room in opened.assignments.items()
                           if reg_id == people[1].id)
            latecomer = await register(session, event, RegistrationIn(
                name=f"{LONG_NAME} sen", email="sen@example.se", organisation=LONG_ORG,
                municipality="Lund", region="M", job_role=LONG_WORD))
            session.add(AccessibilityReport(page=LONG_LINK, description=(
                f"{LONG_WORD} {UNBROKEN} går inte att läsa med skärmläsare."),
                contact=f"{UNBROKEN.lower()}@example.se"))
            await typed_in_rooms(session, event.id, opened.rooms, people)
            session.add(CaptionLine(event_id=event.id, text=f"{LONG_WORD} {LONG_LINK}"[:300]))
            session.add(FeedbackResponse(
                event_id=event.id, region_code=FACILITATOR_REGION, updated_by=LONG_NAME,
                answers={field.key: f"{LONG_WORD} {LONG_LINK} {UNBROKEN}"
                         for field in feedback.form_of(await feedback.get_form(session, event.id))
                         .fields if field.type in ("short_text", "long_text")}))
            start = utcnow() - timedelta(hours=2)
            recording = Recording(event_id=event.id, file_path="recordings/1.mp4",
                                  status="stopped", started_at=start,
                                  stopped_at=start + timedelta(hours=1), duration_seconds=3600,
                                  started_by=LONG_NAME)
            session.add(recording)
            await session.flush()
            first_item = await session.scalar(select(ProgrammeItem.id).where(
                ProgrammeItem.event_id == event.id).order_by(ProgrammeItem.position))
            session.add(ChapterMark(recording_id=recording.id, offset_seconds=60,
                                    title=f"{LONG_WORD} {UNBROKEN}", item_id=first_item))
            publication = Publication(
                recording_id=recording.id, title=f"{LONG_WORD} {UNBROKEN}"[:300],
                description=f"{LONG_WORD} {LONG_LINK}", speakers=[LONG_NAME],
                status="published", output_dir="published/reflow", published_at=utcnow())
            session.add(publication)
            await session.flush()
            film = Publication(
                recording_id=recording.id, parent_id=publication.id, item_id=first_item,
                title=f"{LONG_WORD} {UNBROKEN}"[:300], speakers=[LONG_NAME], trim_in=60.0,
                trim_out=3600.0, status="published", output_dir="published/reflow",
                published_at=utcnow())
            session.add(film)
            await session.flush()
            media = media_root / "published/reflow/bag/data/media"
            media.mkdir(parents=True, exist_ok=True)
            (media / "chapters.vtt").write_text(
                f"WEBVTT\n\n00:00:00.000 --> 00:01:00.000\n{LONG_WORD} {UNBROKEN}\n",
                encoding="utf-8")
            settings = Settings(env="test", database_url=url, secret_key="reflow")
            for kind in ("invite", "reset"):  # the pages their links open
                session.add(StaffToken(
                    kind=kind, token_hash=hashlib.sha256(STAFF_TOKEN.encode()).hexdigest()
                    if kind == "invite" else hashlib.sha256(RESET_TOKEN.encode()).hexdigest(),
                    email=f"{UNBROKEN.lower()}@kb.se", display_name=LONG_NAME, role="moderator",
                    user_id=mod_user.id if kind == "reset" else None,
                    expires_at=utcnow() + timedelta(days=1)))
            for reg in people[:3]:  # the outbox has mail for admins to read
                outbox.to_registration(session, settings, "confirmation", event, reg)
            speaker = (await session.scalars(select(User).where(
                User.username == SPEAKER[0]))).one()
            session.add(StaffRole(user_id=speaker.id, event_id=event.id, role="speaker"))
            session.add(Proposal(
                event_id=event.id, kind="content", title=f"{LONG_WORD} {UNBROKEN}"[:200],
                description=f"{LONG_WORD} {LONG_LINK}", proposer=LONG_NAME,
                organisation=LONG_ORG, region_code="M", links=[LONG_LINK],
                registration_id=people[1].id))
            meeting = await followup.schedule(session, mod, settings, event, MeetingForm(
                title=f"{LONG_WORD} {UNBROKEN}"[:200], description=f"{LONG_WORD} {LONG_LINK}",
                starts_at="2020-11-02T10:00", ends_at="2020-11-02T12:00",
                regions=["M", "AB", "Z"], items=[int(first_item or 0)],
                themes=[], invitees=""), "sv")
            return Day(people[1].join_key, facilitator.join_key, latecomer.join_key, room_id,
                       recording.id, publication.id, people[1].id, int(first_item or 0),
                       speaker.id, meeting.id, meeting.invite_key, film.id)
    finally:
        await db.close()


async def typed_in_rooms(session, event_id: int, rooms, people) -> None:  # type: ignore[no-untyped-def]
    """A chat message and notes in every room, as long and unbroken as people type them."""
    from pycrdt import Doc, Map, Text
    from sqlalchemy import select

    from rooms.notes import THEMES, build_genesis
    from server.chat.models import ChatMessage
    from server.notes.models import NoteUpdate
    from server.platform.models import Theme

    keys = list(await session.scalars(select(Theme.key).where(Theme.event_id == event_id)))
    genesis = build_genesis(keys)
    for room in rooms:
        session.add(ChatMessage(room_id=room.id, registration_id=people[0].id,
                                author_name=LONG_NAME, text=f"{UNBROKEN} {LONG_LINK}"))
        doc: Doc[Map[Text]] = Doc()
        doc.apply_update(genesis)
        before = doc.get_state()
        for key in keys:
            doc.get(THEMES, type=Map)[key].insert(0, f"{LONG_WORD} {LONG_LINK} {UNBROKEN}")
        session.add(NoteUpdate(room_id=room.id, data=genesis))
        session.add(NoteUpdate(room_id=room.id, data=doc.get_update(before)))


Login = Callable[[Page], Awaitable[None]]


def as_user(credentials: tuple[str, str]) -> Login:
    async def go(page: Page) -> None:
        await login(page, *credentials)
    return go


def joining(key: Callable[[Day], str], day: Day) -> Login:
    async def go(page: Page) -> None:
        await page.goto(f"/e/{SLUG}/join/{key(day)}")
        await page.wait_for_load_state("networkidle")
    return go


def pages(day: Day) -> list[tuple[str, str]]:
    """(who, path) of every page of the platform. Add a new page here."""
    e = f"/e/{SLUG}"
    r = FACILITATOR_REGION
    return [
        ("visitor", "/"), ("visitor", e), ("visitor", f"{e}/register"), ("visitor", "/login"),
        ("visitor", "/tillganglighet"), ("visitor", "/play"), ("visitor", "/integritet"),
        ("visitor", f"{e}/link"),
        ("visitor", f"/play/{day.publication_id}"), ("visitor", "/sidan-finns-inte"),
        ("visitor", f"/play/{day.film_id}"),
        ("participant", f"{e}/registered"), ("participant", f"{e}/live"),
        ("participant", f"{e}/me"), ("participant", f"{e}/me/delete"),
        ("latecomer", f"{e}/live"),
        ("participant", f"{e}/rooms/{day.room_id}"),
        ("participant", f"{e}/rooms/{day.room_id}/notes"),
        ("facilitator", f"{e}/feedback"), ("facilitator", f"{e}/feedback/regions/{r}"),
        ("moderator", f"{e}/moderate"), ("moderator", f"{e}/presenter"),
        ("moderator", f"{e}/produce"), ("moderator", f"{e}/feedback/dashboard"),
        ("admin", f"{e}/feedback/form"), ("moderator", f"{e}/feedback/rate"),
        ("moderator", f"{e}/notes"), ("moderator", "/tillganglighet/rapporter"),
        ("captioner", f"{e}/captions"), ("speaker", f"{e}/live"),
        ("archivist", "/archive"), ("archivist", f"/archive/recordings/{day.recording_id}"),
        ("archivist", f"/archive/recordings/{day.recording_id}/items/{day.item_id}"),
        ("moderator", f"{e}/registrations"),
        ("moderator", f"{e}/registrations/{day.participant_id}"),
        ("moderator", f"{e}/registrations/{day.participant_id}/delete"),
        ("moderator", f"{e}/join/{day.participant_key}"),
        ("admin", "/admin/mail"), ("admin", f"{e}/registrations"),
        ("admin", "/admin/events"), ("admin", "/admin/events/new"),
        ("admin", f"/admin/events/{SLUG}"), ("admin", f"/admin/events/{SLUG}/copy"),
        ("admin", f"/admin/events/{SLUG}/programme"),
        ("admin", f"/admin/events/{SLUG}/programme/{day.item_id}"),
        ("admin", f"/admin/events/{SLUG}/programme/new"),
        ("admin", f"/admin/events/{SLUG}/themes"), ("admin", "/admin/staff"),
        ("admin", f"/admin/staff/{day.staff_id}"),
        ("moderator", f"{e}/followup"), ("moderator", f"{e}/followup/new"),
        ("moderator", f"{e}/followup/{day.meeting_id}"),
        ("visitor", f"{e}/followup/{day.meeting_id}/join/{day.meeting_key}"),
        ("participant", f"{e}/proposals"), ("moderator", f"{e}/proposals/review"),
        ("participant", f"{e}/feedback/municipal"), ("moderator", f"{e}/cycle"),
        ("moderator", "/cycle/trends"),
        ("visitor", "/login/forgot"), ("visitor", f"/staff/invitation/{STAFF_TOKEN}"),
        ("visitor", f"/staff/reset/{RESET_TOKEN}"),
    ]


@pytest.fixture
async def busy(clean_db: str, module_server) -> tuple[str, Day]:  # type: ignore[no-untyped-def]
    day = await seed_busy(clean_db, Path(module_server.env["MEDIA_ROOT"]))
    if not module_server.running():
        module_server.start()
    return module_server.url, day


async def signed_in(browser: Browser, url: str, day: Day) -> dict[str, Page]:
    """One browser profile per role, signed in."""
    how: dict[str, Login | None] = {
        "visitor": None,
        "participant": joining(lambda d: d.participant_key, day),
        "facilitator": joining(lambda d: d.facilitator_key, day),
        "latecomer": joining(lambda d: d.latecomer_key, day),
        "moderator": as_user(MODERATOR), "archivist": as_user(ARCHIVIST),
        "captioner": as_user(CAPTIONER), "speaker": as_user(SPEAKER), "admin": as_user(ADMIN),
    }
    profiles = {}
    for who, sign_in in how.items():
        page = await new_page(browser, url)
        if sign_in is not None:
            await sign_in(page)
        profiles[who] = page
    return profiles


def report(findings: dict[str, list[str]]) -> str:
    return "\n".join(f"{where}:\n  " + "\n  ".join(what) for where, what in findings.items())


async def test_every_page_reflows_at_phone_widths(browser, busy) -> None:
    url, day = busy
    profiles = await signed_in(browser, url, day)
    findings: dict[str, list[str]] = {}
    for who, path in pages(day):
        for width in PHONE_WIDTHS:
            if found := await problems_at(profiles[who], path, width):
                findings[f"{path} as {who} at {width} px"] = found
    assert not findings, "pages that do not reflow:\n" + report(findings)


async def test_text_spacing_and_200_percent_text_lose_nothing(browser, busy) -> None:
    """1.4.12 at the narrowest phone; 1.4.4 as browser zoom does it (200 % of 1280 px is 640
    CSS px, with every font twice the size of the 320 px check)."""
    url, day = busy
    profiles = await signed_in(browser, url, day)
    findings: dict[str, list[str]] = {}
    for who, path in pages(day):
        page = profiles[who]
        await load(page, path, 320, 640)
        if found := await text_spacing_problems(page):
            findings[f"{path} as {who}, text spacing"] = found
        if found := await problems_at(page, path, 640, 400):
            findings[f"{path} as {who}, 200 % text"] = found
    assert not findings, "text spacing or resizing loses content:\n" + report(findings)


async def test_orientation_hover_and_focus_on_every_page(browser, busy) -> None:
    """1.3.4 (both orientations work), 1.4.13 (nothing shown on hover alone), 2.4.3/2.4.7/2.1.2
    (Tab order follows the page, focus always visible, no trap), and axe at a phone's width."""
    url, day = busy
    profiles = await signed_in(browser, url, day)
    findings: dict[str, list[str]] = {}
    for who, path in pages(day):
        page = profiles[who]
        for width, height in ((360, 740), (740, 360)):
            if found := await problems_at(page, path, width, height):
                findings[f"{path} as {who}, {width}x{height}"] = found
        if found := [f"axe: {v}" for v in await axe_violations(page)]:
            findings[f"{path} as {who}, axe at 740x360"] = found
        if found := await hover_problems(page):
            findings[f"{path} as {who}, hover"] = found
        await load(page, path, 1280, 800)
        if found := await focus_problems(page):
            findings[f"{path} as {who}, keyboard"] = found
    assert not findings, "orientation, hover or keyboard problems:\n" + report(findings)
