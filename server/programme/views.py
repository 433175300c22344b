"""Admins set events up in the browser (/admin/events): create, copy, edit the details,
the programme and the themes, publish, archive, download the event file. Plain forms that
work without JavaScript; every error is shown next to its field."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers.response import Response as Redirect

from server.mail.sender import SENDER
from server.platform import programme
from server.platform.errors import DomainError
from server.platform.forms import form_time
from server.platform.models import Event, ProgrammeItem, Theme
from server.platform.web import checked_form, platform, render, require_principal, t
from server.programme import editor
from server.programme.importer import export_event

event_admin = Blueprint("event_admin", __name__)
Page = tuple[str, int]


def _messages(errors: dict[str, tuple[str, dict[str, object]]]) -> dict[str, str]:
    return {name: t(key, **values) for name, (key, values) in errors.items()}



@event_admin.get("/admin/events")
async def events() -> Page:
    await require_principal("admin")
    async with platform().db.session() as db:
        listed = await programme.list_events(db, include_drafts=True)
    return await render("programme/admin_events.html", events=listed)


# ---- an event's details -------------------------------------------------------------------


def _event_form(event: Event) -> dict[str, str]:
    return {
        "title": event.title, "title_en": event.title_en or "",
        "description": event.description, "description_en": event.description_en or "",
        "location": event.location, "status": event.status,
        "starts_at": form_time(event.starts_at), "ends_at": form_time(event.ends_at),
        "registration_opens_at": form_time(event.registration_opens_at),
        "registration_closes_at": form_time(event.registration_closes_at),
        "registration_cap": str(event.registration_cap or ""),
        "confirm_email": "on" if event.confirm_email else "",
        "qa_premoderation": "on" if event.qa_premoderation else "",
        "qa_allow_anonymous": "on" if event.qa_allow_anonymous else "",
    }


NEW_EVENT = {"status": "draft", "qa_premoderation": "on", "qa_allow_anonymous": "on"}


@event_admin.route("/admin/events/new", methods=["GET", "POST"])
async def new_event() -> Page | Redirect:
    actor = await require_principal("admin")
    if request.method == "GET":
        return await render("programme/admin_event.html", event=None, form=NEW_EVENT, errors={})
    form = await checked_form()
    try:
        data = editor.NewEventForm.model_validate(form)
    except ValidationError as exc:
        return await render("programme/admin_event.html", 422, event=None, form=form,
                            errors=_messages(editor.form_errors(exc, editor.NewEventForm)))
    try:
        async with platform().db.transaction() as db:
            event = await editor.create(db, actor, data)
    except DomainError as refused:  # the slug is taken
        return await render("programme/admin_event.html", 422, event=None, form=form,
                            errors={"slug": refused.text(_lang())})
    return redirect(url_for("event_admin.programme_page", slug=event.slug, created=1))


def _lang() -> str:
    from server.platform.web import language

    return language()


@event_admin.route("/admin/events/<slug>", methods=["GET", "POST"])
async def edit_event(slug: str) -> Page | Redirect:
    actor = await require_principal("admin")
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        if request.method == "GET":
            return await render("programme/admin_event.html", event=event,
                                form=_event_form(event), errors={},
                                saved=request.args.get("saved"))
        form = await checked_form()
        try:
            data = editor.EventForm.model_validate(form)
        except ValidationError as exc:
            return await render("programme/admin_event.html", 422, event=event, form=form,
                                errors=_messages(editor.form_errors(exc, editor.EventForm)))
        changed = await editor.update(db, actor, platform().settings, event, data)
    if {"starts_at", "ends_at", "location"} & set(changed):
        platform().need(SENDER).wake()
    return redirect(url_for("event_admin.edit_event", slug=slug,
                            saved="mailed" if {"starts_at", "ends_at", "location"} & set(changed)
                            else "1"))


@event_admin.route("/admin/events/<slug>/copy", methods=["GET", "POST"])
async def copy_event(slug: str) -> Page | Redirect:
    actor = await require_principal("admin")
    async with platform().db.transaction() as db:
        source = await programme.get_event(db, slug)
        if request.method == "GET":
            return await render("programme/admin_copy.html", source=source, errors={},
                                form={"title": source.title, "slug": "",
                                      "starts_at": form_time(source.starts_at)})
        form = await checked_form()
        try:
            data = editor.CopyForm.model_validate(form)
            event = await editor.copy(db, actor, source, data)
        except ValidationError as exc:
            return await render("programme/admin_copy.html", 422, source=source, form=form,
                                errors=_messages(editor.form_errors(exc)))
        except DomainError as refused:
            return await render("programme/admin_copy.html", 422, source=source, form=form,
                                errors={"slug": refused.text(_lang())})
    return redirect(url_for("event_admin.programme_page", slug=event.slug, copied=1))


@event_admin.get("/admin/events/<slug>/event.json")
async def event_file(slug: str) -> Response:
    """The event as an event file (`traffpunkt import-event` takes it)."""
    await require_principal("admin")
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        data = await export_event(db, event)
    body = json.dumps(data.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                      indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{slug}.json"'})


# ---- programme ----------------------------------------------------------------------------


@event_admin.get("/admin/events/<slug>/programme")
async def programme_page(slug: str) -> Page:
    await require_principal("admin")
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    return await render("programme/admin_programme.html", event=event, args=request.args)


SPEAKER_ROWS, MATERIAL_ROWS = 2, 2
"""Empty rows offered below the filled ones (save to get more)."""


def _item_form(item: ProgrammeItem | None) -> dict[str, str]:
    if item is None:
        return {}
    form = {"title": item.title, "description": item.description,
            "starts_at": form_time(item.starts_at),
            "duration_minutes": str(item.duration_minutes or ""),
            "organisations": "\n".join(item.organisations or [])}
    for n, s in enumerate(item.speakers):
        form |= {f"speaker-{n}-name": s.name, f"speaker-{n}-title": s.title,
                 f"speaker-{n}-organisation": s.organisation}
    for n, m in enumerate(item.materials or []):
        form |= {f"material-{n}-label": m.get("label", ""), f"material-{n}-url": m.get("url", "")}
    return form


def _row_count(form: dict[str, str], prefix: str, extra: int) -> int:
    used = [int(k.split("-")[1]) for k in form if k.startswith(f"{prefix}-")
            and k.split("-")[1].isdigit() and form[k]]
    return min(editor.ROWS_MAX, (max(used) + 1 if used else 0) + extra)


async def _item_page(event: Event, item: ProgrammeItem | None, form: dict[str, str],
                     errors: dict[str, str], status: int = 200) -> Page:
    return await render("programme/admin_item.html", status, event=event, item=item, form=form,
                        errors=errors, speaker_rows=_row_count(form, "speaker", SPEAKER_ROWS),
                        material_rows=_row_count(form, "material", MATERIAL_ROWS))


@event_admin.route("/admin/events/<slug>/programme/new", methods=["GET", "POST"])
@event_admin.route("/admin/events/<slug>/programme/<int:item_id>", methods=["GET", "POST"])
async def item_page(slug: str, item_id: int | None = None) -> Page | Redirect:
    actor = await require_principal("admin")
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        item = await editor.item_of(db, event, item_id) if item_id is not None else None
        if request.method == "GET":
            return await _item_page(event, item, _item_form(item), {})
        form = await checked_form()
        errors: dict[str, str] = {}
        try:
            data = editor.ItemForm.model_validate(form)
        except ValidationError as exc:
            data, errors = None, _messages(editor.form_errors(exc, editor.ItemForm))
        speakers: list[Any] = []
        materials: list[Any] = []
        try:
            speakers = editor.parse_speakers(form)
        except editor.RowErrors as bad:
            errors |= {k: t(v) for k, v in bad.errors.items()}
        try:
            materials = editor.parse_materials(form)
        except editor.RowErrors as bad:
            errors |= {k: t(v) for k, v in bad.errors.items()}
        if errors or data is None:
            return await _item_page(event, item, form, errors, 422)
        saved = await editor.save_item(db, actor, event, item, data, speakers, materials)
    return redirect(url_for("event_admin.programme_page", slug=slug, saved=saved.id)
                    + f"#item-{saved.id}")


@event_admin.post("/admin/events/<slug>/programme/<int:item_id>/move")
async def move_item(slug: str, item_id: int) -> Redirect:
    actor = await require_principal("admin")
    form = await checked_form()
    direction = "up" if form.get("direction") == "up" else "down"
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await editor.move_item(db, actor, event, await editor.item_of(db, event, item_id),
                               direction)
    return redirect(url_for("event_admin.programme_page", slug=slug, moved=item_id,
                            direction=direction) + f"#item-{item_id}")


@event_admin.post("/admin/events/<slug>/programme/<int:item_id>/delete")
async def delete_item(slug: str, item_id: int) -> Redirect:
    actor = await require_principal("admin")
    await checked_form()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await editor.delete_item(db, actor, event, await editor.item_of(db, event, item_id))
    return redirect(url_for("event_admin.programme_page", slug=slug, deleted=1))


# ---- themes -------------------------------------------------------------------------------


@event_admin.route("/admin/events/<slug>/themes", methods=["GET", "POST"])
@event_admin.route("/admin/events/<slug>/themes/<int:theme_id>", methods=["GET", "POST"])
async def themes_page(slug: str, theme_id: int | None = None) -> Page | Redirect:
    actor = await require_principal("admin")
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        theme = await editor.theme_of(db, event, theme_id) if theme_id is not None else None
        current = ({"key": theme.key, "title": theme.title, "title_en": theme.title_en or "",
                    "description": theme.description} if theme else {})
        if request.method == "GET":
            return await _themes(event, theme, current, {})
        form = await checked_form()
        try:
            await editor.save_theme(db, actor, event, theme,
                                    editor.ThemeForm.model_validate(form))
        except ValidationError as exc:
            return await _themes(event, theme, form, _messages(editor.form_errors(exc)), 422)
        except DomainError as refused:
            return await _themes(event, theme, form, {"key": refused.text(_lang())}, 422)
    return redirect(url_for("event_admin.themes_page", slug=slug, saved=1))


async def _themes(event: Event, theme: Theme | None, form: dict[str, str],
                  errors: dict[str, str], status: int = 200) -> Page:
    return await render("programme/admin_themes.html", status, event=event, theme=theme,
                        form=form, errors=errors, args=request.args)


@event_admin.post("/admin/events/<slug>/themes/<int:theme_id>/<action>")
async def theme_action(slug: str, theme_id: int, action: str) -> Redirect:
    actor = await require_principal("admin")
    form = await checked_form()
    if action not in ("move", "delete"):
        raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        theme = await editor.theme_of(db, event, theme_id)
        if action == "delete":
            await editor.delete_theme(db, actor, event, theme)
        else:
            await editor.move_theme(db, actor, event, theme,
                                    "up" if form.get("direction") == "up" else "down")
    return redirect(url_for("event_admin.themes_page", slug=slug))
