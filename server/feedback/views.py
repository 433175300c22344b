"""Regional feedback pages (/e/<slug>/feedback/...): the region's form, the rating of the day,
KB's dashboard, the deadline and facilitator controls, the form editor and the exports.

Every page works without JavaScript (plain form posts, errors next to the fields); the same
actions answer JSON for the autosave script when the request asks for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Blueprint, Response, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.wrappers.response import Response as Redirect

from server.feedback import regional
from server.feedback import report as report
from server.feedback import service as fb
from server.feedback.models import FeedbackResponse
from server.platform import keys, programme
from server.platform.auth import Principal
from server.platform.errors import DomainError, Forbidden
from server.platform.exports import csv_bytes, xlsx_bytes
from server.platform.models import Event, Region, Registration
from server.platform.registration import field_errors
from server.platform.roles import staff_with_role
from server.platform.web import (
    body_limit,
    check_csrf,
    checked_form,
    json_body,
    language,
    platform,
    render,
    require_principal,
    send_document,
    t,
    uploaded,
)

feedback = Blueprint("feedback", __name__)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
KB = ("moderator", "archivist")  # admin is implied by require_role
ACTIONS = ("draft", "submit", "reopen")


def _ports() -> fb.FeedbackPorts:
    return platform().need(fb.PORTS)


def _json_wanted() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


# ---- entry ------------------------------------------------------------------------------------


@feedback.get("/e/<slug>/feedback")
async def entry(slug: str) -> Redirect:
    """Send each caller where they belong: their region's form, KB's dashboard, or the rating."""
    principal = await require_principal()
    if principal.is_staff and principal.role in fb.KB_ROLES:
        return redirect(url_for("feedback.dashboard", slug=slug))
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        region = await _own_region(db, event.id, principal)
    if region:
        return redirect(url_for("feedback.region_page", slug=slug, code=region))
    return redirect(url_for("feedback.rate_page", slug=slug))


async def _own_region(db: AsyncSession, event_id: int, principal: Principal) -> str | None:
    return await fb.own_region(db, _ports(), event_id, principal)


# ---- the region's response --------------------------------------------------------------------


@feedback.get("/e/<slug>/feedback/regions/<code>")
async def region_page(slug: str, code: str) -> tuple[str, int]:
    principal = await require_principal()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        ctx = await _region_context(db, event, principal, code)
    return await render(
        "feedback/region.html", **ctx, errors={}, notice=_notice(request.args.get("done"))
    )


async def _region_context(
    db: AsyncSession, event: Event, principal: Principal, code: str
) -> dict[str, Any]:
    allowed = await fb.require_access(db, _ports(), event.id, principal, code)
    form_row = await fb.get_form(db, event.id)
    row = await fb.get_response(db, event.id, code)
    names = await report.facilitator_names(db, event.id)
    return {
        "event": event,
        "region": await db.get(Region, code),
        "access": allowed,
        "form": fb.form_of(form_row),
        "form_row": form_row,
        "locked": fb.is_locked(form_row),
        "response": row,
        "values": dict(row.answers) if row else {},
        "version": row.version if row else 0,
        "facilitator": names.get(code, ""),
        "lang": language(),
        "documents": await regional.attachments(db, event.id, code),
        "questions": await regional.questions(db, event.id, code),
        "municipal": await regional.municipal(db, event.id, code),
        "extra_errors": {},
    }


def _notice(done: str | None) -> str:
    return t(f"feedback.done.{done}") if done in (*ACTIONS, *REGIONAL_DONE) else ""


REGIONAL_DONE = ("attached", "detached", "question")


@feedback.post("/e/<slug>/feedback/regions/<code>")
@body_limit(256 * 1024)
async def region_post(slug: str, code: str) -> Any:
    """The form without JavaScript: save a draft, submit, or reopen."""
    await check_csrf()
    principal = await require_principal()
    form = await request.form
    action = form.get("action", "draft")
    if action not in ACTIONS:
        raise DomainError("feedback.action", "Okänd åtgärd.")
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        shape = fb.form_of(await fb.get_form(db, event.id))
    raw = {f.key: form.getlist(f"a-{f.key}") for f in shape.fields}
    try:
        await _act(event.id, principal, code, action, raw, _int(form.get("version")))
    except DomainError as exc:
        return await _region_error(event, principal, code, raw, exc)
    return redirect(url_for("feedback.region_page", slug=slug, code=code, done=action))


async def _region_error(
    event: Event, principal: Principal, code: str, raw: dict[str, Any], exc: DomainError
) -> tuple[str, int]:
    if exc.code == "auth.forbidden":
        raise exc
    async with platform().db.session() as db:
        ctx = await _region_context(db, event, principal, code)
    ctx["values"] = {k: (v if len(v) != 1 else v[0]) for k, v in raw.items()}
    errors = {k: t(key, **vals) for k, (key, vals) in getattr(exc, "fields", {}).items()}
    status = 422 if isinstance(exc, fb.Invalid) else exc.status
    return await render(
        "feedback/region.html", status, **ctx, errors=errors, notice="",
        problem=exc.text(language()),
    )


@feedback.post("/e/<slug>/feedback/regions/<code>/<action>")
@body_limit(256 * 1024)  # every answer of a region's form, long texts included
async def region_json(slug: str, code: str, action: str) -> Any:
    """Autosave (`draft`), `submit` and `reopen` for the script: JSON in, JSON out."""
    await check_csrf()
    if action not in ACTIONS:
        raise DomainError("not_found", "Okänd åtgärd.", key="not_found.action")
    principal = await require_principal()
    body = await json_body(AnswersIn)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    try:
        row = await _act(event.id, principal, code, action, body.answers, body.version)
    except fb.Invalid as exc:
        fields = {k: t(key, **vals) for k, (key, vals) in exc.fields.items()}
        return {"error": {"code": exc.code, "message": t("feedback.errors"), "fields": fields}}, 422
    return _response_json(row)


@feedback.get("/e/<slug>/feedback/regions/<code>/response")
async def stored_response(slug: str, code: str) -> dict[str, Any]:
    """The stored response with its answers, for whoever may read it: the autosave script asks
    after a `feedback.conflict` whether the stored version is simply its own last save."""
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        await fb.require_access(db, _ports(), event.id, principal, code, "read")
        row = await fb.get_response(db, event.id, code)
        locked = fb.is_locked(await fb.get_form(db, event.id))
    if row is None:
        return {**NOT_STARTED, "answers": {}, "locked": locked}
    return {**_response_json(row), "answers": dict(row.answers), "locked": locked}


NOT_STARTED: dict[str, Any] = {
    "status": "not_started",
    "version": 0,
    "updated_by": "",
    "updated_at": None,
    "submitted_at": None,
}


def _response_json(row: FeedbackResponse) -> dict[str, Any]:
    return {
        "status": row.status,
        "version": row.version,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat(),
        "submitted_at": row.submitted_at.isoformat() if row.submitted_at else None,
    }


async def _act(
    event_id: int, principal: Principal, code: str, action: str, raw: dict[str, Any], version: int
) -> FeedbackResponse:
    """Run one action in its own transaction; keep late answers in another; tell the watchers."""
    try:
        async with platform().db.transaction() as db:
            row = await _dispatch(db, event_id, principal, code, action, raw, version)
    except fb.Locked as exc:
        if action != "reopen":
            async with platform().db.transaction() as db:
                await fb.keep_late(db, event_id, code, exc.answers, principal.name)
        raise
    await _announce(event_id, code, row)
    return row


async def _dispatch(
    db: AsyncSession,
    event_id: int,
    principal: Principal,
    code: str,
    action: str,
    raw: dict[str, Any],
    version: int,
) -> FeedbackResponse:
    ports = _ports()
    if action == "submit":
        return await fb.submit(db, ports, event_id, principal, code, raw, version)
    if action == "reopen":
        return await fb.reopen(db, ports, event_id, principal, code, version)
    return await fb.save_draft(db, ports, event_id, principal, code, raw, version)


async def _announce(event_id: int, code: str, row: FeedbackResponse) -> None:
    data = {"region_code": code, **_response_json(row)}
    sio = platform().sio
    await sio.emit("feedback.saved", data, to=keys.feedback_region_room(event_id, code))
    await sio.emit("feedback.status", data, to=keys.feedback_dashboard_room(event_id))


class AnswersIn(BaseModel):
    """What the autosave script sends: the answers by question key and the version it saw."""

    model_config = ConfigDict(extra="ignore")
    answers: dict[str, Any] = Field(default_factory=dict, max_length=200)
    version: int = Field(-1, ge=-1, le=2**31 - 1)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


@feedback.get("/e/<slug>/feedback/regions/<code>/notes")
async def notes(slug: str, code: str) -> dict[str, Any]:
    """The room's notes for one theme, as a starting point for an answer."""
    principal = await require_principal()
    theme = request.args.get("theme", "")
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        await fb.require_access(db, _ports(), event.id, principal, code, "edit")
    if theme not in {th.key for th in event.themes}:
        raise DomainError("feedback.theme_not_found", "Temat finns inte.")
    return {"text": await _ports().notes.theme_text(event.id, code, theme)}


# ---- rating of the day ------------------------------------------------------------------------


@feedback.route("/e/<slug>/feedback/rate", methods=["GET", "POST"])
async def rate_page(slug: str) -> tuple[str, int]:
    principal = await require_principal()
    secret = platform().settings.secret_key
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        mine = await fb.my_rating(db, secret, event.id, principal)
        if request.method == "GET":
            return await render("feedback/rate.html", event=event, mine=mine, errors={}, sent=False)
        await check_csrf()
        form = dict(await request.form)
        try:
            mine = await fb.rate(db, secret, event.id, principal, fb.RatingIn.model_validate(form))
        except ValidationError as exc:
            errors = {k: t(key, **v) for k, (key, v) in field_errors(exc).items()}
            return await render(
                "feedback/rate.html",
                422,
                event=event,
                mine=None,
                form=form,
                errors=errors,
                sent=False,
            )
    return await render("feedback/rate.html", event=event, mine=mine, errors={}, sent=True)


# ---- KB's dashboard ---------------------------------------------------------------------------


@feedback.get("/e/<slug>/feedback/dashboard")
async def dashboard(slug: str) -> tuple[str, int]:
    principal = await require_principal(*KB)
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        form_row = await fb.get_form(db, event.id)
        ctx: dict[str, Any] = {
            "event": event,
            "form_row": form_row,
            "locked": fb.is_locked(form_row),
            "statuses": await report.region_statuses(db, event.id),
            "summary": await report.summary(db, event.id, language()),
            "candidates": await _candidates(db, event.id) if principal.is_moderator else {},
        }
    return await render(
        "feedback/dashboard.html", **ctx, notice=_kb_notice(request.args.get("done"))
    )


async def _candidates(db: AsyncSession, event_id: int) -> dict[str, list[tuple[str, str]]]:
    """Who a moderator can choose as a region's facilitator: its registrations and the people
    of its breakout room (latest round), staff users."""
    in_rooms = await fb.room_people(db, event_id)
    regs = list(
        await db.scalars(
            select(Registration)
            .where(Registration.event_id == event_id)
            .order_by(Registration.name)
        )
    )
    staff = [
        (f"u:{uid}", f"{name} ({t('feedback.staff')})")
        for uid, name in await db.execute(staff_with_role(event_id, ("facilitator",)))
    ]
    out: dict[str, list[tuple[str, str]]] = {}
    for r in regs:
        own = {r.region_code} if r.region_code else set()
        codes = own | {c for c, ids in in_rooms.items() if r.id in ids}
        for code in sorted(codes):
            out.setdefault(code, []).append((f"r:{r.id}", f"{r.name}, {r.organisation}"))
    return {"__staff__": staff, **out}


@feedback.get("/e/<slug>/feedback/state")
async def state(slug: str) -> dict[str, Any]:
    """Deadline and status counts for the console panel's script."""
    await require_principal(*KB)
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        form_row = await fb.get_form(db, event.id)
        statuses = await report.region_statuses(db, event.id)
    deadline = form_row.deadline.astimezone(STOCKHOLM) if form_row.deadline else None
    counts = {
        k: sum(1 for s in statuses if s["status"] == k)
        for k in ("not_started", "draft", "submitted")
    }
    return {
        "deadline": deadline.strftime("%Y-%m-%dT%H:%M") if deadline else None,
        "locked": fb.is_locked(form_row),
        "counts": counts,
        "summary": t("feedback.counts", **counts),
    }


def _kb_notice(done: str | None) -> str:
    return t(f"feedback.kb_done.{done}") if done in ("deadline", "facilitator") else ""


@feedback.post("/e/<slug>/feedback/deadline")
async def deadline(slug: str) -> Redirect:
    """Moderators set, move or clear the deadline (Swedish time), or lock at once."""
    await check_csrf()
    principal = await require_principal("moderator")
    form = await request.form
    when = _deadline_value(form.get("action", "set"), str(form.get("deadline", "")))
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await fb.set_deadline(db, principal, event.id, when)
    return redirect(_back(form.get("next"), slug, "deadline"))


def _deadline_value(action: str, text: str) -> datetime | None:
    if action == "clear":
        return None
    if action == "now":
        return datetime.now(STOCKHOLM)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)
    except ValueError as exc:
        raise DomainError("feedback.deadline_invalid", "Ange datum och tid.") from exc


def _back(target: Any, slug: str, done: str) -> str:
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return f"{target}{'&' if '?' in target else '?'}done={done}"
    return url_for("feedback.dashboard", slug=slug, done=done)


@feedback.post("/e/<slug>/feedback/facilitator")
async def facilitator(slug: str) -> Redirect:
    await check_csrf()
    principal = await require_principal("moderator")
    form = await request.form
    kind, _, ident = str(form.get("who", "")).partition(":")
    reg_id = _int(ident) if kind == "r" else None
    user_id = _int(ident) if kind == "u" else None
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await fb.set_facilitator(
            db, principal, event.id, str(form.get("region", ""))[:3], reg_id, user_id
        )
    return redirect(_back(form.get("next"), slug, "facilitator"))


# ---- exports ----------------------------------------------------------------------------------


@feedback.get("/e/<slug>/feedback/export.<fmt>")
async def export(slug: str, fmt: str) -> Response:
    await require_principal(*KB)
    if fmt not in ("csv", "xlsx", "json"):
        raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        if fmt == "json":
            body, mime = _json_bytes(await report.export_document(db, event.id)), "application/json"
        else:
            rows = await report.export_rows(db, event.id)
            body, mime = (
                (_csv(rows), "text/csv; charset=utf-8")
                if fmt == "csv"
                else (
                    _xlsx(rows),
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
            )
    name = f"aterkoppling-{slug}.{fmt}"
    return Response(
        body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    return csv_bytes(rows, report.EXPORT_COLUMNS)


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    return xlsx_bytes("Återkoppling", rows, report.EXPORT_COLUMNS)


# ---- the form editor (admins) -----------------------------------------------------------------


@feedback.route("/e/<slug>/feedback/form", methods=["GET", "POST"])
@body_limit(256 * 1024)  # the whole form, every question in both languages
async def form_editor(slug: str) -> tuple[str, int] | Redirect:
    principal = await require_principal("admin")
    if request.method == "POST":
        return await _save_editor(slug, principal)
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        row = await fb.get_form(db, event.id)
    saved = bool(request.args.get("saved"))
    return await _editor_page(event, row.fields, row.version, {}, saved=saved)


async def _save_editor(slug: str, principal: Principal) -> tuple[str, int] | Redirect:
    """Save the admin's form; on any refusal show the page again with what they posted."""
    await check_csrf()
    posted = await request.form
    fields = parse_editor(posted)
    version = _int(posted.get("version"))
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        try:
            form = fb.FormDef.model_validate({"fields": fields})
            await fb.save_form(db, principal, event.id, form, version)
        except ValidationError as exc:
            return await _editor_page(event, fields, version, editor_errors(exc, t), status=422)
        except fb.FormTypeInUse as exc:
            return await _editor_page(event, fields, version, type_errors(fields, exc.keys), 422)
        except DomainError as exc:
            if exc.code != "feedback.form_conflict":
                raise
            # The posted edits stay on the page; saving again replaces the other admin's form.
            current = (await fb.get_form(db, event.id)).version
            conflict = {"form": t("feedback.editor.conflict")}
            return await _editor_page(event, fields, current, conflict, status=409)
    return redirect(url_for("feedback.form_editor", slug=slug, saved=1))


async def _editor_page(
    event: Event,
    fields: list[dict[str, Any]],
    version: int,
    errors: dict[str, str],
    status: int = 200,
    saved: bool = False,
) -> tuple[str, int]:
    return await render(
        "feedback/form_editor.html",
        status,
        event=event,
        fields=fields,
        version=version,
        errors=errors,
        saved=saved,
    )


def type_errors(fields: list[dict[str, Any]], keys: list[str]) -> dict[str, str]:
    """`feedback.form_type_in_use` as a message at the type of each question concerned."""
    message = t("feedback.editor.type_in_use")
    return {f"f{i}-type": message for i, f in enumerate(fields) if f.get("key") in keys}


EDITOR_KEYS = ("key", "type", "label", "label_en", "help", "help_en", "theme")


def parse_editor(posted: Any) -> list[dict[str, Any]]:
    """The editor's rows (`f<i>-<name>`) as field definitions, in the chosen order; a row marked
    for deletion and an untouched blank row are left out."""
    rows = []
    for i in range(min(_int(posted.get("count")), 61)):
        p = f"f{i}-"
        if posted.get(p + "delete") or not any(posted.get(p + k) for k in ("key", "label")):
            continue
        field: dict[str, Any] = {k: str(posted.get(p + k, "")).strip() for k in EDITOR_KEYS}
        for k in ("label_en", "help_en", "theme"):
            field[k] = field[k] or None
        field["required"] = bool(posted.get(p + "required"))
        field["options"] = _options(str(posted.get(p + "options", "")))
        rows.append((_int(posted.get(p + "position")), i, field))
    return [f for _, _, f in sorted(rows, key=lambda r: (r[0], r[1]))]


def _options(text: str) -> list[dict[str, Any]]:
    """One option a line: `value | Swedish label | English label` (English optional)."""
    options = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if parts[0]:
            label = parts[1] if len(parts) > 1 and parts[1] else parts[0]
            options.append(
                {
                    "value": parts[0],
                    "label": label,
                    "label_en": parts[2] if len(parts) > 2 and parts[2] else None,
                }
            )
    return options


def editor_errors(exc: ValidationError, tr: Any) -> dict[str, str]:
    """Pydantic's errors as messages for the editor's fields (`f<i>-<name>`, or `form`)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        name = f"f{loc[1]}-{loc[2] if len(loc) > 2 else 'options'}" if len(loc) > 1 else "form"
        if name.endswith("-options") or name.endswith("-value"):
            name = f"f{loc[1]}-options"
        errors.setdefault(name, tr(_editor_message(err["type"], name)))
    return errors


def _editor_message(kind: str, name: str) -> str:
    if kind in ("missing", "string_too_short"):
        return "error.required"
    if kind == "string_too_long":
        return "feedback.editor.too_long"
    if name.endswith("-key") or kind == "string_pattern_mismatch":
        return "feedback.editor.key_invalid"
    if name == "form":
        return "feedback.editor.distinct"
    return "feedback.editor.options_invalid"


# ---- the region's chosen form: documents, its own questions, the municipalities' feedback ------


@feedback.post("/e/<slug>/feedback/regions/<code>/documents/new")
@body_limit(regional.MAX_BYTES + 64 * 1024)  # one document in a multipart form
async def attach(slug: str, code: str) -> Any:
    """Attach a PDF, DOCX or ODT to the region's response (members of the region)."""
    principal = await require_principal()
    await check_csrf()
    document = await uploaded("document", regional.MAX_BYTES)
    try:
        async with platform().db.transaction() as db:
            event = await programme.get_event(db, slug)
            await fb.require_access(db, _ports(), event.id, principal, code, "edit")
            if document is None:
                raise DomainError("feedback.document_missing", "Välj en fil att bifoga.")
            await regional.attach(db, principal, platform().settings.media_root, event.id,
                                  code, *document)
    except DomainError as refused:
        if refused.code == "auth.forbidden" or refused.status == 404:
            raise
        return await _region_problem(slug, principal, code, refused, "document")
    return redirect(url_for("feedback.region_page", slug=slug, code=code, done="attached")
                    + "#documents")


@feedback.get("/e/<slug>/feedback/regions/<code>/documents/<int:ident>")
async def document(slug: str, code: str, ident: int) -> Response:
    """A region's document, for whoever may read the region's response; always a download."""
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        await fb.require_access(db, _ports(), event.id, principal, code, "read")
        row = await regional.attachment(db, event.id, code, ident)
    return await send_document(platform().settings.media_root / row.path,
                               regional.MEDIA_TYPES[row.kind], row.filename)


@feedback.post("/e/<slug>/feedback/regions/<code>/documents/<int:ident>/delete")
async def detach(slug: str, code: str, ident: int) -> Redirect:
    principal = await require_principal()
    await check_csrf()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await fb.require_access(db, _ports(), event.id, principal, code, "edit")
        row = await regional.attachment(db, event.id, code, ident)
        await regional.detach(db, principal, platform().settings.media_root, row)
    return redirect(url_for("feedback.region_page", slug=slug, code=code, done="detached")
                    + "#documents")


@feedback.post("/e/<slug>/feedback/regions/<code>/questions/new")
async def add_question(slug: str, code: str) -> Any:
    """The region's facilitator adds a question for its municipalities."""
    principal = await require_principal()
    form = await checked_form()
    try:
        async with platform().db.transaction() as db:
            event = await programme.get_event(db, slug)
            await fb.require_access(db, _ports(), event.id, principal, code, "submit")
            await regional.add_question(db, principal, event.id, code, form.get("question", ""))
    except DomainError as refused:
        if refused.code == "auth.forbidden" or refused.status == 404:
            raise
        return await _region_problem(slug, principal, code, refused, "question")
    return redirect(url_for("feedback.region_page", slug=slug, code=code, done="question")
                    + "#questions")


@feedback.post("/e/<slug>/feedback/regions/<code>/questions/<int:ident>/delete")
async def remove_question(slug: str, code: str, ident: int) -> Redirect:
    principal = await require_principal()
    await check_csrf()
    async with platform().db.transaction() as db:
        event = await programme.get_event(db, slug)
        await fb.require_access(db, _ports(), event.id, principal, code, "submit")
        await regional.remove_question(db, principal, event.id, code, ident)
    return redirect(url_for("feedback.region_page", slug=slug, code=code) + "#questions")


async def _region_problem(slug: str, principal: Principal, code: str, refused: DomainError,
                          field: str) -> tuple[str, int]:
    """The region page again, with what went wrong next to the form it came from."""
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        ctx = await _region_context(db, event, principal, code)
    ctx["extra_errors"] = {field: refused.text(language())}
    return await render("feedback/region.html", refused.status, **ctx, errors={},
                        notice="", problem="")


@feedback.route("/e/<slug>/feedback/municipal", methods=["GET", "POST"])
async def municipal(slug: str) -> tuple[str, int] | Redirect:
    """A municipality's short feedback to its region: the region's own questions and a few
    words. For participants of the event with a region; one answer per municipality."""
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        reg = await db.get(Registration, principal.id) \
            if principal.kind == "participant" and principal.event_id == event.id else None
        if reg is None or not reg.region_code:
            raise Forbidden("Återkoppling från en kommun lämnas av deltagare från en region.",
                            key="feedback.municipal_participants")
        region = await db.get(Region, reg.region_code)
        questions = await regional.questions(db, event.id, reg.region_code)
        mine = await regional.municipal_of(db, event.id, reg.region_code,
                                           regional.clean_municipality(reg.municipality))
    values: dict[str, Any] = {
        "municipality": reg.municipality, "text": mine.text if mine else "",
        **{f"q-{k}": v for k, v in (mine.answers if mine else {}).items()}}
    context: dict[str, Any] = {"event": event, "region": region, "questions": questions,
                               "updated": mine.updated_at if mine else None}
    if request.method == "GET":
        return await render("feedback/municipal.html", values=values, errors={},
                            saved=request.args.get("saved"), **context)
    form = await checked_form()
    values = {**values, **form}
    raw = {str(q.id): form.get(f"q-{q.id}", "") for q in questions}
    try:
        async with platform().db.transaction() as db:
            await regional.save_municipal(db, principal, event.id, reg.region_code,
                                          form.get("municipality", ""), raw,
                                          form.get("text", ""))
    except DomainError as refused:
        field = str(refused.details.get("field") or "text")
        return await render("feedback/municipal.html", refused.status, values=values,
                            errors={field: refused.text(language())}, saved=None, **context)
    return redirect(url_for("feedback.municipal", slug=slug, saved=1))
