"""Proposal pages: propose and follow one's own (/e/<slug>/proposals), KB's review by region and
theme (/e/<slug>/proposals/review), a decision with a note, taking an accepted one into another
event's programme, and a proposal's document."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from quart import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers.response import Response as Redirect

from server.mail.sender import SENDER
from server.platform import documents, programme
from server.platform.errors import DomainError, Forbidden
from server.platform.forms import form_errors
from server.platform.models import Event
from server.platform.web import (
    body_limit,
    checked_form,
    language,
    platform,
    render,
    require_principal,
    send_document,
    t,
    uploaded,
)
from server.proposals import service
from server.proposals.service import Filters, ProposalForm, ReviewForm

proposals = Blueprint("proposals", __name__)
Page = tuple[str, int]


async def _choices(db: Any, event: Event) -> dict[str, Any]:
    return {"regions": [(r.code, r.name) for r in await programme.regions(db)],
            "themes": [(th.key, th.title) for th in event.themes]}


async def _page(slug: str, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Page:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        return await render(
            "proposals/index.html", status, event=event,
            mine=await service.mine(db, principal, event.id),
            form=form or await service.defaults(db, principal), errors=errors or {},
            args=request.args, **await _choices(db, event))


@proposals.get("/e/<slug>/proposals")
async def index(slug: str) -> Page:
    return await _page(slug)


@proposals.post("/e/<slug>/proposals")
@body_limit(documents.MAX_BYTES + 64 * 1024)  # the form and one document
async def propose(slug: str) -> Page | Redirect:
    principal = await require_principal()
    form: dict[str, Any] = await checked_form()
    document = await uploaded("document", documents.MAX_BYTES)
    try:
        parsed = ProposalForm.model_validate(form)
        async with platform().db.transaction() as db:
            event = await programme.get_event(db, slug)
            row = await service.submit(db, principal, platform().settings, event, parsed,
                                       document)
    except ValidationError as exc:
        errors = {k: t(key, **v) for k, (key, v) in form_errors(exc, ProposalForm).items()}
        if "email" in errors:
            errors["email"] = t("error.email")
        if "links" in errors:
            errors["links"] = t("proposals.error.links")
        return await _page(slug, form, errors, 422)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        field = str(refused.details.get("field") or "document")
        return await _page(slug, form, {field: refused.text(language())}, refused.status)
    return redirect(url_for("proposals.index", slug=slug, sent=row.id) + "#mine")


@proposals.get("/e/<slug>/proposals/review")
async def review_page(slug: str) -> Page:
    principal = await require_principal()
    principal.require_moderator()
    try:
        filters = Filters.model_validate(dict(request.args))
    except ValidationError:
        filters = Filters()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.review_list(db, event.id, filters)
        return await render(
            "proposals/review.html", event=event, rows=rows, filters=filters,
            counts=await service.counts(db, event.id), targets=await service.targets(db, event),
            args=request.args, **await _choices(db, event))


@proposals.post("/e/<slug>/proposals/<int:ident>/review")
async def review(slug: str, ident: int) -> Redirect:
    principal = await require_principal()
    principal.require_moderator()
    form = await checked_form()
    try:
        data = ReviewForm.model_validate(form)
    except ValidationError as exc:
        raise DomainError("proposals.review_invalid", "Välj ett giltigt beslut.") from exc
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        row = await service.get(db, event.id, ident)
        await service.review(db, principal, platform().settings, event, row, data, language())
    platform().need(SENDER).wake()
    return redirect(url_for("proposals.review_page", slug=slug, reviewed=ident)
                    + f"#proposal-{ident}")


@proposals.post("/e/<slug>/proposals/<int:ident>/take")
async def take(slug: str, ident: int) -> Redirect:
    principal = await require_principal()
    principal.require_moderator()
    form = await checked_form()
    target_id = int(form["event"]) if form.get("event", "").isdigit() \
        and len(form["event"]) < 10 else 0
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        row = await service.get(db, event.id, ident)
        target = await db.get(Event, target_id) if target_id else None
        if target is None:
            raise DomainError("proposals.target", "Välj ett kommande evenemang.")
        item = await service.take_into_programme(db, principal, row, target)
        target_slug, item_id = target.slug, item.id
    return redirect(url_for("proposals.review_page", slug=slug)
                    + "?" + urlencode({"taken": ident, "into": target_slug, "item": item_id})
                    + f"#proposal-{ident}")


@proposals.get("/e/<slug>/proposals/<int:ident>/document")
async def document(slug: str, ident: int) -> Response:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        row = await service.get(db, event.id, ident)
    if not service.may_read(principal, row):
        raise Forbidden()
    if not row.document_path:
        raise DomainError("proposals.not_found", "Förslaget finns inte.",
                          key="proposals.not_found.document")
    return await send_document(platform().settings.media_root / row.document_path,
                               documents.MEDIA_TYPES[row.document_kind], row.document_name)
