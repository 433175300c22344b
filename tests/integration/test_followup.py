"""Regional follow-up meetings (issue 24 point 1): a facilitator of Jämtland Härjedalen schedules
a meeting a week after the webcast with an agenda, invites by link and e-mail (the mail and its
calendar invitation arrive at a real SMTP server); municipal participants get into the meeting's
room, others do not; the meeting room lives beside the day's rounds. HTTP on PostgreSQL."""

from __future__ import annotations

from typing import Any

from icalendar import Calendar
from sqlalchemy import select

from server.breakout import service as breakout
from server.breakout.models import BreakoutRound
from server.followup.models import FollowUpMeeting
from server.platform.models import Event, ProgrammeItem, Registration, StaffRole, Theme, User
from tests.conftest import VALID_REGISTRATION, get_csrf, register, signed_in
from tests.integration.test_staff_admin import configure_smtp, delivered
from tests.integration.test_staff_roles import post
from tests.mail import plain_text

SLUG = "hosten-2020"
MEETING = {"title": "Uppföljning Jämtland Härjedalen", "starts_at": "2020-11-02T10:00",
           "ends_at": "2020-11-02T12:00", "regions": ["Z"]}


async def facilitator(app: Any, username: str = "karin", regions: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A staff facilitator of `regions` at the autumn event, signed in."""
    client = await signed_in(app, "staff", username)
    async with app.platform.db.transaction() as db:
        user = await db.scalar(select(User.id).where(User.username == username))
        event = await db.scalar(select(Event.id).where(Event.slug == SLUG))
        db.add(StaffRole(user_id=user, event_id=event, role="facilitator",
                         regions=regions or ["Z"]))
    return client


async def agenda(app: Any) -> tuple[list[int], list[str]]:
    """The autumn event's programme item ids (in order) and §18 theme keys."""
    async with app.platform.db.session() as db:
        event = await db.scalar(select(Event).where(Event.slug == SLUG))
        items = list(await db.scalars(select(ProgrammeItem.id).where(
            ProgrammeItem.event_id == event.id).order_by(ProgrammeItem.starts_at)))
        themes = list(await db.scalars(select(Theme.key).where(
            Theme.event_id == event.id).order_by(Theme.position)))
    return items, themes


async def schedule(client: Any, **fields: Any) -> Any:
    return await post(client, f"/e/{SLUG}/followup/new", {**MEETING, **fields})


async def only_meeting(app: Any) -> FollowUpMeeting:
    async with app.platform.db.session() as db:
        return (await db.scalars(select(FollowUpMeeting))).one()


async def test_a_facilitator_schedules_a_meeting_and_the_invitation_arrives(app, smtp) -> None:
    configure_smtp(app, smtp)
    karin = await facilitator(app)
    form = (await (await karin.get(f"/e/{SLUG}/followup/new")).get_data()).decode()
    assert "Jämtland Härjedalen" in form and "Skåne" not in form, "her own regions only"
    items, themes = await agenda(app)

    wrong = await schedule(karin, ends_at="2020-11-02T09:00", regions=[], title="")
    page = (await wrong.get_data()).decode()
    assert wrong.status_code == 422
    for message in ("Fältet är obligatoriskt.", "Välj minst en region."):
        assert message in page
    assert (await schedule(karin, regions=["M"])).status_code == 403, "not her region"
    early = await schedule(karin, starts_at="2020-10-26T09:00", ends_at="2020-10-26T10:00")
    assert early.status_code == 422
    assert "Mötet ska hållas efter webbsändningen." in (await early.get_data()).decode()
    bad_mail = await schedule(karin, invitees="ok@kommun.se\nnot an address")
    assert bad_mail.status_code == 422
    assert "Varje rad ska vara en giltig e-postadress." in (await bad_mail.get_data()).decode()

    done = await schedule(karin, items=[str(items[7]), str(items[2])],
                          themes=[themes[1], themes[0], "okänt-tema"],
                          invitees="Anna@Ostersund.se\nper@krokom.se, anna@ostersund.se")
    assert done.status_code == 422, "a theme the event does not have"
    assert "Temat finns inte i evenemanget." in (await done.get_data()).decode()
    done = await schedule(karin, items=[str(items[7]), str(items[2])],
                          themes=[themes[1], themes[0]],
                          invitees="Anna@Ostersund.se\nper@krokom.se, anna@ostersund.se")
    assert done.status_code == 302
    page = (await (await karin.get(done.headers["Location"])).get_data()).decode()
    assert "Mötet är planerat" in page and "Jämtland Härjedalen" in page
    meeting = await only_meeting(app)
    assert meeting.item_ids == [items[7], items[2]]
    assert meeting.theme_keys == [themes[1], themes[0]]
    assert f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}" in page

    mail = await delivered(app, smtp, "anna@ostersund.se",
                           "Inbjudan: Uppföljning Jämtland Härjedalen")
    assert len(smtp.inbox.to("anna@ostersund.se")) == 1, "one mail per address"
    assert smtp.inbox.to("per@krokom.se")
    text = plain_text(mail)
    assert "2020-11-02 10:00–12:00" in text and meeting.invite_key in text
    [calendar] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    event = next(c for c in Calendar.from_ical(calendar.get_payload(decode=True)).walk()
                 if c.name == "VEVENT")
    assert event["summary"] == "Uppföljning Jämtland Härjedalen"
    assert event.decoded("dtstart").isoformat() == "2020-11-02T09:00:00+00:00"
    assert meeting.invite_key in str(event["url"])


async def test_the_link_lets_municipal_participants_into_the_meeting_room(app) -> None:
    karin = await facilitator(app)
    assert (await schedule(karin)).status_code == 302
    meeting = await only_meeting(app)
    link = f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}"
    room = f"/e/{SLUG}/rooms/{meeting.room_id}"

    newcomer = app.quart.test_client()  # did not register for the webcast
    assert (await newcomer.get(room)).status_code == 302, "not signed in: to registration"
    form = (await (await newcomer.get(link)).get_data()).decode()
    assert 'value="Z"' in form and 'value="M"' not in form, "the meeting's regions only"
    joined = await newcomer.post(link, form={
        **VALID_REGISTRATION, "name": "Anna Berg", "municipality": "Östersund", "region": "Z",
        "csrf_token": await get_csrf(newcomer, link)})
    assert joined.status_code == 302 and joined.headers["Location"] == room
    assert (await newcomer.get(room)).status_code == 200
    async with app.platform.db.session() as db:
        anna = await db.scalar(select(Registration).where(Registration.name == "Anna Berg"))
    assert anna.region_code == "Z" and anna.municipality == "Östersund"

    registered = app.quart.test_client()  # registered for the webcast from Krokom
    await register(registered, name="Per Ek", region="Z", municipality="Krokom")
    assert (await registered.get(room)).status_code == 403, "not without the link"
    assert (await registered.get(link)).headers["Location"] == room
    assert (await registered.get(room)).status_code == 200
    meeting_page = (await (await registered.get(f"/e/{SLUG}/followup/{meeting.id}"))
                    .get_data()).decode()
    assert 'id="join-url"' not in meeting_page, "the link is the facilitators' to share"

    outsider = app.quart.test_client()
    await register(outsider, name="Lars Malm", region="M")
    assert (await outsider.get(room)).status_code == 403
    assert (await outsider.get(f"/e/{SLUG}/followup/{meeting.id}")).status_code == 403
    wrong = await outsider.get(f"/e/{SLUG}/followup/{meeting.id}/join/{'x' * 32}")
    assert wrong.status_code == 404
    skane = await facilitator(app, "sven", ["M"])
    assert (await skane.get(f"/e/{SLUG}/followup/{meeting.id}")).status_code == 403
    assert (await skane.get(room)).status_code == 403

    async with app.platform.db.session() as db:  # beside the day's rounds, not one of them
        autumn = await db.scalar(select(Event.id).where(Event.slug == SLUG))
        assert await breakout.open_round_of(db, autumn) is None
        kinds = list(await db.scalars(select(BreakoutRound.kind)))
    assert kinds == ["followup"]


async def test_a_new_link_ends_the_old_and_closing_ends_the_meeting(app) -> None:
    karin = await facilitator(app)
    assert (await schedule(karin)).status_code == 302
    meeting = await only_meeting(app)
    old = f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}"
    bad = await post(karin, f"/e/{SLUG}/followup/{meeting.id}/invite",
                     {"invitees": "per@krokom.se\nnot an address"})
    assert bad.status_code == 422
    assert "Varje rad ska vara en giltig e-postadress." in (await bad.get_data()).decode()
    more = await post(karin, f"/e/{SLUG}/followup/{meeting.id}/invite",
                      {"invitees": "per@krokom.se, PER@krokom.se"})
    assert more.status_code == 302 and "invited=1" in more.headers["Location"]
    assert (await post(karin, f"/e/{SLUG}/followup/{meeting.id}/new-link", {})).status_code == 302
    assert (await app.quart.test_client().get(old)).status_code == 404
    fresh = await only_meeting(app)
    assert (await app.quart.test_client().get(
        f"/e/{SLUG}/followup/{meeting.id}/join/{fresh.invite_key}")).status_code == 200
    participant = app.quart.test_client()
    await register(participant, name="Per Ek", region="Z")
    assert (await post(participant, f"/e/{SLUG}/followup/{meeting.id}/close",
                       {})).status_code == 403
    assert (await post(karin, f"/e/{SLUG}/followup/{meeting.id}/close", {})).status_code == 302
    async with app.platform.db.session() as db:
        assert (await db.get(BreakoutRound, meeting.round_id)).status == "closed"
    late = await participant.get(f"/e/{SLUG}/followup/{meeting.id}/join/{fresh.invite_key}")
    assert late.status_code == 409
    listing = (await (await karin.get(f"/e/{SLUG}/followup")).get_data()).decode()
    assert "Uppföljning Jämtland Härjedalen" in listing and "Avslutat" in listing


async def test_moderators_see_every_meeting_and_participants_cannot_schedule(app) -> None:
    karin = await facilitator(app)
    assert (await schedule(karin)).status_code == 302
    moderator = await signed_in(app, "moderator")
    listing = (await (await moderator.get(f"/e/{SLUG}/followup")).get_data()).decode()
    assert "Uppföljning Jämtland Härjedalen" in listing and 'id="schedule"' in listing
    participant = app.quart.test_client()
    await register(participant, region="Z")
    assert (await participant.get(f"/e/{SLUG}/followup/new")).status_code == 403
    mine = (await (await participant.get(f"/e/{SLUG}/followup")).get_data()).decode()
    assert 'id="no-meetings"' in mine and 'id="schedule"' not in mine
