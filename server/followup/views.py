"""Follow-up meeting pages: the event's meetings (/e/<slug>/followup), scheduling one
(/new), a meeting's page with its agenda, link and invitations (/<id>), and the meeting link
(/<id>/join/<key>) that lets the municipalities' participants into its room."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from quart import Blueprint, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response

from server.followup import service
from server.followup.models import FollowUpMeeting
from server.followup.service import InviteForm, MeetingForm
from server.mail.sender import SENDER
from server.platform import programme
from server.platform.errors import DomainError, Forbidden
from server.platform.forms import form_errors, form_time
from server.platform.models import Event, ProgrammeItem, Region, Theme
from server.platform.registration import RegistrationIn, field_errors
from server.platform.store import require_rate
from server.platform.web import (
    checked_form,
    client_address,
    current_principal,
    language,
    local_time,
    platform,
    render,
    require_principal,
    sign_in,
    t,
)

followup = Blueprint("followup", __name__)
Page = tuple[str, int]
NEWCOMERS_PER_ADDRESS = 30


def _messages(errors: dict[str, tuple[str, dict[str, object]]]) -> dict[str, str]:
    return {name: t(key, **values) for name, (key, values) in errors.items()}


async def _choices(db: Any, event: Event) -> dict[str, Any]:
    principal = await current_principal()
    regions = list(await db.execute(select(Region.code, Region.name).order_by(Region.name)))
    if principal is not None and not principal.is_moderator:  # a facilitator: their own
        regions = [(c, n) for c, n in regions if c in principal.regions]
    items = await db.scalars(select(ProgrammeItem).where(
        ProgrammeItem.event_id == event.id).order_by(ProgrammeItem.starts_at))
    themes = await db.scalars(select(Theme).where(
        Theme.event_id == event.id).order_by(Theme.position))
    return {
        "regions": regions,
        "items": [(i.id, f"{local_time(i.starts_at, '%H:%M')} {i.title}") for i in items],
        "themes": [(th.key, th.title) for th in themes],
    }


@followup.get("/e/<slug>/followup")
async def listing(slug: str) -> Page:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        meetings = await service.listing(db, principal, event)
        names = dict((await db.execute(select(Region.code, Region.name))).all())
    return await render("followup/list.html", event=event, meetings=meetings, names=names,
                        may_schedule=service.leads_some(principal, event.id))


@followup.route("/e/<slug>/followup/new", methods=["GET", "POST"])
async def new(slug: str) -> Page | Response:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        if not service.leads_some(principal, event.id):
            raise Forbidden("Bara samtalsledare och moderatorer kan planera möten.",
                            key="followup.leaders_only.schedule")
        choices = await _choices(db, event)
    if request.method == "GET":
        start = form_time(event.ends_at) if event.ends_at else ""
        form: dict[str, Any] = {"starts_at": start, "regions": list(principal.regions),
                                "themes": [key for key, _title in choices["themes"]]}
        return await render("followup/new.html", event=event, form=form, errors={}, **choices)
    form = await checked_form()
    posted = await request.form
    for name in ("regions", "items", "themes"):
        form[name] = posted.getlist(name)  # type: ignore[assignment]
    try:
        data = MeetingForm.model_validate(form)
        async with platform().db.transaction() as db:
            current = await programme.get_event(db, slug)
            meeting = await service.schedule(db, principal, platform().settings, current, data,
                                             language())
    except ValidationError as exc:
        return await render("followup/new.html", 422, event=event, form=form,
                            errors=_messages(form_errors(exc, MeetingForm)), **choices)
    except DomainError as refused:
        if "field" not in refused.details:
            raise
        return await render("followup/new.html", refused.status, event=event, form=form,
                            errors={str(refused.details["field"]): refused.text(language())},
                            **choices)
    platform().need(SENDER).wake()
    return redirect(url_for("followup.meeting", slug=slug, meeting_id=meeting.id, scheduled=1))


@followup.get("/e/<slug>/followup/<int:meeting_id>")
async def meeting(slug: str, meeting_id: int, errors: dict[str, str] | None = None,
                  status: int = 200) -> Page:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        found = await service.get(db, event, meeting_id)
        if not await service.is_member(db, principal, found):
            raise Forbidden("Du är inte med i mötet.", key="followup.not_member")
        agenda = await service.agenda(db, found)
    leads = service.may_lead(principal, event.id, found.regions)
    return await render(
        "followup/meeting.html", status, event=event, meeting=found, leads=leads, **agenda,
        join_url=service.join_url(platform().settings, event, found) if leads else "",
        errors=errors or {}, args=request.args)


@followup.post("/e/<slug>/followup/<int:meeting_id>/<action>")
async def act(slug: str, meeting_id: int, action: str) -> Page | Response:
    principal = await require_principal()
    form = await checked_form()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        found = await service.get(db, event, meeting_id)
        service.require_leader(principal, found)
        if action == "invite":
            try:
                addresses = InviteForm.model_validate(form).addresses()
            except ValidationError as exc:
                return await meeting(
                    slug, meeting_id, _messages(form_errors(exc, InviteForm)), 422)
            done = service.invite(db, platform().settings, event, found, addresses,
                                  principal.name, language())
            outcome = {"invited": done}
        elif action == "new-link":
            await service.new_link(db, principal, found)
            outcome = {"relinked": 1}
        elif action == "close":
            await service.close(db, principal, found)
            outcome = {"closed": 1}
        else:
            raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    platform().need(SENDER).wake()
    return redirect(url_for("followup.meeting", slug=slug, meeting_id=meeting_id)
                    + "?" + urlencode(outcome))


@followup.route("/e/<slug>/followup/<int:meeting_id>/join/<key>", methods=["GET", "POST"])
async def join(slug: str, meeting_id: int, key: str) -> Page | tuple[str, int, dict[str, str]] \
        | Response:
    """The meeting link. A participant of the event goes in; staff who lead it see its page;
    anyone else gives their name, organisation, municipality and region first."""
    principal = await current_principal()
    async with platform().db.transaction() as db:
        event = programme.visible(await programme.get_event(db, slug), False)
        found = await service.by_key(db, event, meeting_id, key)
        if principal is not None and principal.is_staff:
            return redirect(url_for("followup.meeting", slug=slug, meeting_id=meeting_id))
        if principal is not None and principal.kind == "participant" \
                and principal.event_id == event.id:
            await service.admit(db, found, principal.id)
            return _to_room(slug, found)
        regions = [(r.code, r.name) for r in await programme.regions(db)
                   if r.code in found.regions]
        if request.method == "GET":
            return await _join_page(event, found, key, regions, {}, {})
        form = await checked_form()
        try:
            await require_rate(platform().store, f"followup.join.{found.id}", client_address(),
                               NEWCOMERS_PER_ADDRESS, 3600, "registration.rate_limited",
                               "För många anmälningar härifrån. Försök igen om en stund.")
        except DomainError as refused:
            page, status = await _join_page(event, found, key, regions, form, {},
                                            refused.text(language()), 429)
            return page, status, refused.headers
        try:
            reg = await service.newcomer(db, event, found, RegistrationIn.model_validate(form),
                                         language())
        except ValidationError as exc:
            return await _join_page(event, found, key, regions, form,
                                    _messages(field_errors(exc)), status=422)
        except DomainError as refused:
            return await _join_page(event, found, key, regions, form,
                                    {"region": refused.text(language())}, status=422)
    await sign_in(registration_id=reg.id)
    return _to_room(slug, found)


async def _join_page(event: Event, found: FollowUpMeeting, key: str, regions: list[Any],
                     form: dict[str, str], errors: dict[str, str], form_error: str = "",
                     status: int = 200) -> Page:
    return await render("followup/join.html", status, event=event, meeting=found, key=key,
                        regions=regions, form=form, errors=errors, form_error=form_error)


def _to_room(slug: str, found: FollowUpMeeting) -> Response:
    return redirect(url_for("breakout.room_page", slug=slug, room_id=found.room_id))
