"""Registrations: organisers list, search, count, export, correct, re-link and delete them
(/e/<slug>/registrations, moderators and admins); a participant sees and deletes their own
(/e/<slug>/me). Every page works without JavaScript."""

from __future__ import annotations

from pydantic import ValidationError
from quart import Blueprint, Response, redirect, request, url_for
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.wrappers.response import Response as Redirect

from server.mail import outbox
from server.mail.sender import SENDER
from server.platform import programme
from server.platform.auth import Principal
from server.platform.errors import DomainError
from server.platform.exports import csv_bytes, xlsx_bytes
from server.platform.models import Event, Registration
from server.platform.registration import FORGETTING, RegistrationIn, field_errors
from server.platform.web import (
    check_csrf,
    checked_form,
    end_sockets_of,
    platform,
    render,
    require_principal,
    sign_out,
    t,
)
from server.registrations import service
from server.registrations.service import EXPORT_COLUMNS, PAGE_SIZE, Filters

registrations = Blueprint("registrations", __name__)
ORGANISERS = ("moderator",)  # and admins (require_role implies admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@registrations.get("/e/<slug>/registrations")
async def listing(slug: str) -> tuple[str, int]:
    await require_principal(*ORGANISERS)
    filters = Filters.from_args(request.args)
    page = _page(request.args.get("page"))
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows, total = await service.search(db, event, filters, page)
        counts = await service.region_counts(db, event)
        regions = await programme.regions(db)
    pages = max(1, -(-total // PAGE_SIZE))
    return await render("registrations/list.html", event=event, rows=rows, total=total,
                        counts=counts, regions=regions, filters=filters, page=min(page, pages),
                        pages=pages, retention_ends=service.retention_ends(event))


@registrations.post("/e/<slug>/registrations/retention")
async def retention(slug: str) -> Redirect:
    """Admins set how long after the event its registrations are kept."""
    actor = await require_principal("admin")
    await check_csrf()
    value = str((await request.form).get("months", ""))
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        months = int(value) if value.isdigit() and len(value) < 5 else 0
        await service.set_retention(db, actor, event, months)
    return redirect(url_for("registrations.listing", slug=slug, retention=1))


def _page(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 6 else 1


@registrations.get("/e/<slug>/registrations/export.<fmt>")
async def export(slug: str, fmt: str) -> Response:
    await require_principal(*ORGANISERS)
    if fmt not in ("csv", "xlsx"):
        raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    filters = Filters.from_args(request.args)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.export_rows(db, event, filters)
    body, mime = ((csv_bytes(rows, EXPORT_COLUMNS), "text/csv; charset=utf-8") if fmt == "csv"
                  else (xlsx_bytes("Anmälningar", rows, EXPORT_COLUMNS), XLSX))
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="anmalningar-{slug}.{fmt}"',
        "Cache-Control": "no-store"})


@registrations.route("/e/<slug>/registrations/<int:ident>", methods=["GET", "POST"])
async def correct(slug: str, ident: int) -> tuple[str, int] | Redirect:
    actor = await require_principal(*ORGANISERS)
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        reg = await service.get(db, event, ident)
        regions = await programme.regions(db)
        if request.method == "GET":
            return await _edit_page(event, reg, regions, _form_of(reg), {})
        form = await checked_form()
        try:
            changed = await service.correct(db, actor, reg, RegistrationIn.model_validate(form))
        except ValidationError as exc:
            errors = {k: t(key, **v) for k, (key, v) in field_errors(exc).items()}
            return await _edit_page(event, reg, regions, form, errors, 422)
        except DomainError:
            return await _edit_page(event, reg, regions, form,
                                    {"region": t("error.region")}, 422)
    return redirect(url_for("registrations.correct", slug=slug, ident=ident,
                            saved=1 if changed else 0))


def _form_of(reg: Registration) -> dict[str, str]:
    return {"name": reg.name, "email": reg.email or "", "organisation": reg.organisation,
            "municipality": reg.municipality, "region": reg.region_code or "national",
            "job_role": reg.job_role, "attendance": reg.attendance}


async def _edit_page(event: Event, reg: Registration, regions: object, form: dict[str, str],
                     errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    return await render("registrations/edit.html", status, event=event, reg=reg,
                        regions=regions, form=form, errors=errors,
                        saved=request.args.get("saved") == "1",
                        relinked=request.args.get("relinked") == "1")


@registrations.post("/e/<slug>/registrations/<int:ident>/link")
async def new_link(slug: str, ident: int) -> Redirect:
    """A new join link (the old one and every session opened with it end), mailed to them."""
    actor = await require_principal(*ORGANISERS)
    await check_csrf()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        reg = await service.get(db, event, ident)
        ended = await service.new_link(db, actor, reg)
        outbox.send_link(db, platform().settings, event, reg)
    await end_sockets_of(ended)
    platform().need(SENDER).wake()
    return redirect(url_for("registrations.correct", slug=slug, ident=ident, relinked=1))


@registrations.route("/e/<slug>/registrations/<int:ident>/delete", methods=["GET", "POST"])
async def delete(slug: str, ident: int) -> tuple[str, int] | Redirect:
    actor = await require_principal(*ORGANISERS)
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        reg = await service.get(db, event, ident)
        if request.method == "GET":
            return await render("registrations/delete.html", event=event, reg=reg,
                                own=False)
        await check_csrf()
        ended = await service.remove(db, actor, reg, platform().need(FORGETTING))
    await end_sockets_of(ended)
    return redirect(url_for("registrations.listing", slug=slug, deleted=1))


# ---- the participant's own registration -------------------------------------------------


async def _own(db: AsyncSession, slug: str,
               principal: Principal) -> tuple[Event, Registration | None]:
    """The event and the caller's own registration of it (None: staff, or another event's
    participant, who are sent to the event's page)."""
    event = await programme.get_event(db, slug)
    if principal.kind != "participant" or principal.event_id != event.id:
        return event, None
    return event, await service.get(db, event, principal.id)


@registrations.get("/e/<slug>/me")
async def mine(slug: str) -> tuple[str, int] | Redirect:
    principal = await require_principal()
    async with platform().db.session() as db:
        event, reg = await _own(db, slug, principal)
        if reg is None:
            return redirect(url_for("pages.event_page", slug=slug))
        regions = {r.code: r.name for r in await programme.regions(db)}
    return await render("registrations/mine.html", event=event, reg=reg, regions=regions)


@registrations.route("/e/<slug>/me/delete", methods=["GET", "POST"])
async def delete_mine(slug: str) -> tuple[str, int] | Redirect:
    principal = await require_principal()
    async with platform().db.transaction() as db:
        event, reg = await _own(db, slug, principal)
        if reg is None:
            return redirect(url_for("pages.event_page", slug=slug))
        if request.method == "GET":
            return await render("registrations/delete.html", event=event, reg=reg, own=True)
        await check_csrf()
        ended = await service.remove(db, principal, reg, platform().need(FORGETTING))
    await sign_out()
    await end_sockets_of(ended)
    return redirect(url_for("pages.event_page", slug=slug, deleted=1))
