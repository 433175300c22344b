"""The archivist's pages (recordings, edit, consent, captions, publish) and the public `/play`.
The recording service and the publish jobs are built by server/recording/feature.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from quart import Blueprint, abort, redirect, request, send_file, url_for
from quart.wrappers import Response as QuartResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.wrappers.response import Response

from server.captions import service as live_captions_service
from server.platform import programme
from server.platform.errors import DomainError, NotFound
from server.platform.models import Event, utcnow
from server.platform.web import (
    body_limit,
    check_csrf,
    language,
    platform,
    render,
    require_principal,
    t,
)
from server.recording import publication as pubs
from server.recording import service as recording
from server.recording.models import Publication, Recording

archive = Blueprint("archive", __name__)
View = TypeVar("View", bound=Callable[..., Awaitable[Any]])
NO_LIVE_CAPTIONS = "Ingen direkttextning skrevs under inspelningen."
MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}


# -- lifecycle and the banner on every page of an event ---------------------------------


@archive.app_context_processor
async def _banner() -> dict[str, Any]:
    async def recording_active(event_id: int) -> bool:
        async with platform().db.session() as db:
            return await recording.is_recording(db, event_id)

    return {"recording_active": recording_active}


# -- helpers ----------------------------------------------------------------------------------


def _seconds(value: str | None) -> float | None:
    """'75', '75.5', '1:15' or '0:01:15' as seconds; empty is None."""
    text = (value or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        total = 0.0
        for part in text.split(":"):
            total = total * 60 + float(part)
    except ValueError as exc:
        value = text[:20]
        raise DomainError(
            "publication.bad_time", f"”{value}” är ingen tid.", value=value
        ) from exc
    return total


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    frac = f"{seconds - whole:.1f}"[1:] if seconds - whole >= 0.05 else ""
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}{frac}"


async def _edit_from_form() -> pubs.EditIn:
    form = await request.form
    chapters = [
        {"start": _seconds(start), "title": title.strip()}
        for start, title in zip(
            form.getlist("chapter_start"), form.getlist("chapter_title"), strict=False
        )
        if title.strip()
    ]
    return pubs.EditIn.model_validate(
        {
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "speakers": [s for s in form.get("speakers", "").splitlines() if s.strip()],
            "chapters": chapters,
            "trim_in": _seconds(form.get("trim_in")) or 0.0,
            "trim_out": _seconds(form.get("trim_out")),
            "poster_at": _seconds(form.get("poster_at")),
            "rights": form.get("rights", ""),
        }
    )


def film_route(method: str, suffix: str = "") -> Callable[[View], View]:
    """A route of the whole day's publication and the same of each programme item's film
    (`item_id` None for the day): one page and one set of actions for both."""
    day = f"/archive/recordings/<int:recording_id>{suffix}"
    item = f"/archive/recordings/<int:recording_id>/items/<int:item_id>{suffix}"

    def register(view: View) -> View:
        archive.route(day, methods=[method], defaults={"item_id": None})(view)
        return archive.route(item, methods=[method])(view)

    return register


def film_url(endpoint: str, recording_id: int, item_id: int | None) -> str:
    return url_for(endpoint, recording_id=recording_id, item_id=item_id)


async def _film(db: AsyncSession, recording_id: int, item_id: int | None) -> Publication:
    return await pubs.publication_for(db, await pubs.recording_or_404(db, recording_id), item_id)


async def _context(recording_id: int, item_id: int | None = None, **extra: Any) -> dict[str, Any]:
    async with platform().db.transaction() as db:
        rec = await pubs.recording_or_404(db, recording_id)
        pub = await pubs.publication_for(db, rec, item_id)
        day = await db.get(Publication, pub.parent_id) if pub.parent_id else None
        day = day or pub
        films = await pubs.item_films(db, day)
        event = await programme.get_event_by_id(db, rec.event_id)
        consents = await pubs.consents(db, pub)
        marks = await recording.chapter_marks(db, rec.id)
        required = await pubs.required_speakers(db, pub)
        blocked = await pubs.blockers(db, pub)
        live_lines = len(await live_captions_service.recording_lines(db, rec))
    return {
        "rec": rec,
        "pub": pub,
        "day": day,
        "film": {"recording_id": rec.id, "item_id": pub.item_id},
        "spans": pubs.item_spans(marks, rec.duration_seconds),
        "films": films,
        "event": event,
        "consents": consents,
        "marks": marks,
        "clock": clock,
        "required": required,
        "from_programme": [s for s in required if s not in pub.speakers],
        "missing": blocked.missing,
        "needs_no_speakers": blocked.needs_no_speaker_confirmation,
        "errors": extra.pop("errors", []),
        "notice": extra.pop("notice", ""),
        "bag_name": pubs.bag_zip_name(pub),
        "live_caption_lines": live_lines,
        **extra,
    }


async def _edit_page(recording_id: int, item_id: int | None = None, status: int = 200,
                     **extra: Any) -> tuple[str, int]:
    return await render("recording/recording.html", status,
                        **await _context(recording_id, item_id, **extra))


# -- the archivist's pages ---------------------------------------------------------------------


@archive.get("/archive")
async def index() -> tuple[str, int]:
    principal = await require_principal()
    events = principal.events_as("archivist")  # an event's archivist sees that event's
    if events is not None and not events:
        principal.require_role("archivist")
    query = (select(Recording, Event.title, Publication.status)
             .join(Event, Event.id == Recording.event_id)
             .outerjoin(Publication, (Publication.recording_id == Recording.id)
                        & Publication.parent_id.is_(None))
             .order_by(Recording.started_at.desc()))
    if events is not None:
        query = query.where(Recording.event_id.in_(events))
    async with platform().db.session() as db:
        rows = (await db.execute(query)).all()
        days = await recording.retention_days(db)
    return await render(
        "recording/index.html",
        rows=rows,
        clock=clock,
        retention_days=days,
        is_admin=principal.role == "admin",
    )


@archive.post("/archive/retention")
async def retention() -> Response:
    principal = await require_principal("admin")
    await check_csrf()
    form = await request.form
    try:
        days = int(form.get("retention_days", ""))
    except ValueError:
        days = 0
    async with platform().db.transaction() as db:
        await recording.set_retention(db, principal, days)
    return redirect(url_for("archive.index"))


@film_route("GET")
async def edit(recording_id: int, item_id: int | None) -> tuple[str, int]:
    await require_principal("archivist")
    return await _edit_page(recording_id, item_id)


@film_route("POST")
async def save(recording_id: int, item_id: int | None) -> tuple[str, int] | Response:
    principal = await require_principal("archivist")
    await check_csrf()
    try:
        data = await _edit_from_form()
        async with platform().db.transaction() as db:
            await pubs.save_edit(db, principal, await _film(db, recording_id, item_id), data)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"][:1])) for e in exc.errors()})
        return await _edit_page(
            recording_id, item_id, 422,
            errors=[t("archive.error.fields", fields=", ".join(fields))],
        )
    except DomainError as exc:
        return await _edit_page(recording_id, item_id, exc.status, errors=[exc.text(language())])
    return redirect(url_for("archive.edit", recording_id=recording_id, item_id=item_id, saved=1))


@film_route("POST", "/consent")
async def consent(recording_id: int, item_id: int | None) -> Response:
    principal = await require_principal("archivist")
    await check_csrf()
    form = await request.form
    async with platform().db.transaction() as db:
        pub = await _film(db, recording_id, item_id)
        speaker = str(form.get("speaker", ""))
        if speaker not in await pubs.required_speakers(db, pub):
            raise DomainError("publication.unknown_speaker", "Talaren finns inte i listan.")
        await pubs.confirm_consent(db, principal, pub, speaker, form.get("given") == "1")
    return redirect(film_url("archive.edit", recording_id, item_id) + "#consent")


@film_route("POST", "/no-speakers")
async def no_speakers(recording_id: int, item_id: int | None) -> tuple[str, int] | Response:
    """The archivist confirms (or withdraws) that no identifiable speaker appears."""
    principal = await require_principal("archivist")
    await check_csrf()
    form = await request.form
    try:
        async with platform().db.transaction() as db:
            pub = await _film(db, recording_id, item_id)
            await pubs.confirm_no_speakers(db, principal, pub, form.get("given") == "1")
    except DomainError as exc:
        return await _edit_page(recording_id, item_id, exc.status, errors=[exc.text(language())])
    return redirect(film_url("archive.edit", recording_id, item_id) + "#consent")


@film_route("POST", "/captions")
@body_limit(pubs.MAX_CAPTIONS_BYTES + 64 * 1024)  # a WebVTT file, in a multipart form
async def captions(recording_id: int, item_id: int | None) -> tuple[str, int] | Response:
    principal = await require_principal("archivist")
    await check_csrf()
    upload = (await request.files).get("captions")
    raw = upload.read() if upload else b""
    try:
        async with platform().db.transaction() as db:
            cues = pubs.set_captions(principal, await _film(db, recording_id, item_id), raw)
    except DomainError as exc:
        return await _edit_page(recording_id, item_id, 422, errors=[exc.text(language())])
    return await _edit_page(recording_id, item_id, notice=t("archive.captions.saved", count=cues))


@archive.get("/archive/recordings/<int:recording_id>/live-captions.vtt")
async def live_captions(recording_id: int) -> QuartResponse:
    """The live captions typed while this was recorded, as WebVTT in recording time."""
    await require_principal("archivist")
    async with platform().db.session() as db:
        rec = await pubs.recording_or_404(db, recording_id)
        vtt = await live_captions_service.recording_vtt(db, rec)
    if vtt is None:
        raise NotFound("captions.not_found", NO_LIVE_CAPTIONS)
    return QuartResponse(vtt, content_type="text/vtt; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="direkttextning-{recording_id}.vtt"'})


@film_route("POST", "/live-captions")
async def use_live_captions(recording_id: int, item_id: int | None) -> tuple[str, int] | Response:
    """The archivist takes the live captions as the publication's captions (checked first)."""
    principal = await require_principal("archivist")
    await check_csrf()
    try:
        async with platform().db.transaction() as db:
            rec = await pubs.recording_or_404(db, recording_id)
            vtt = await live_captions_service.recording_vtt(db, rec)
            if vtt is None:
                raise NotFound("captions.not_found", NO_LIVE_CAPTIONS)
            pub = await pubs.publication_for(db, rec, item_id)
            cues = pubs.set_captions(principal, pub, vtt.encode())
    except DomainError as exc:
        return await _edit_page(recording_id, item_id, exc.status, errors=[exc.text(language())])
    return await _edit_page(recording_id, item_id, notice=t("archive.captions.saved", count=cues))


@film_route("POST", "/publish")
async def publish(recording_id: int, item_id: int | None) -> tuple[str, int] | Response:
    principal = await require_principal("archivist")
    await check_csrf()
    try:
        await platform().need(pubs.JOBS).submit(principal, recording_id, item_id)
    except DomainError as exc:
        return await _edit_page(recording_id, item_id, exc.status, errors=[exc.text(language())])
    return redirect(film_url("archive.edit", recording_id, item_id) + "#publish")


@film_route("GET", "/progress")
async def progress(recording_id: int, item_id: int | None) -> dict[str, Any]:
    await require_principal("archivist")
    async with platform().db.session() as db:
        pub = await pubs.film_of(db, recording_id, item_id)
    if pub is None:
        return {"status": "draft", "progress": 0, "step": "", "error": None}
    error = {"code": pub.error_code, "message": pub.error_message} if pub.error_code else None
    return {
        "status": pub.status,
        "progress": pub.progress,
        "step": pub.step,
        "error": error,
        "play_url": url_for("archive.play_one", pub_id=pub.id)
        if pub.status == "published"
        else None,
    }


@archive.get("/archive/recordings/<int:recording_id>/file")
async def recording_file(recording_id: int) -> QuartResponse:
    """The raw recording, for the archivist's preview (never public)."""
    await require_principal("archivist")
    async with platform().db.session() as db:
        rec = await pubs.recording_or_404(db, recording_id)
    path = Path(platform().settings.media_root) / rec.file_path
    if not path.is_file():
        abort(404)
    return await send_file(path, mimetype="video/mp4", conditional=True)


@archive.get("/archive/publications/<int:pub_id>/bag.zip")
async def bag(pub_id: int) -> QuartResponse:
    await require_principal("archivist")
    pub, folder = await _published(pub_id)
    return await send_file(
        folder / pubs.bag_zip_name(pub),
        mimetype="application/zip",
        as_attachment=True,
        attachment_filename=pubs.bag_zip_name(pub),
        conditional=True,
    )


# -- /play ------------------------------------------------------------------------------------


async def _published(pub_id: int) -> tuple[Publication, Path]:
    async with platform().db.session() as db:
        pub = await db.get(Publication, pub_id)
    folder = pubs.published_dir(platform(), pub) if pub else None
    if pub is None or folder is None:
        abort(404)
    return pub, folder


@archive.get("/play")
async def play() -> tuple[str, int]:
    """Every published film: each day with the films of its programme items under it (a day
    not published itself is still their heading), newest first."""
    async with platform().db.session() as db:
        rows = list(await db.scalars(
            select(Publication).where(Publication.status == "published")
            .order_by(Publication.published_at.desc())))
        days = {p.id: p for p in rows if p.parent_id is None}
        items: dict[int, list[Publication]] = {}
        for pub in rows:
            if pub.parent_id is not None:
                items.setdefault(pub.parent_id, []).append(pub)
        for day_id in set(items) - set(days):
            if (day := await db.get(Publication, day_id)) is not None:
                days[day_id] = day
    newest = {d: max(p.published_at or utcnow() for p in [days[d], *items.get(d, [])]
                     if p.status == "published") for d in days}
    groups = [(days[d], sorted(items.get(d, []), key=lambda p: p.trim_in))
              for d in sorted(days, key=lambda d: newest[d], reverse=True)]
    return await render("play/index.html", groups=groups)


@archive.get("/play/<int:pub_id>")
async def play_one(pub_id: int) -> tuple[str, int]:
    pub, folder = await _published(pub_id)
    media = folder / "bag" / "data" / pubs.MEDIA_DIR
    chapters = pubs.read_chapters(media / "chapters.vtt")
    async with platform().db.session() as db:
        day = await db.get(Publication, pub.parent_id) if pub.parent_id else None
        films = [] if day else sorted(
            (f for f in (await pubs.item_films(db, pub)).values() if f.status == "published"),
            key=lambda f: f.trim_in)
    return await render(
        "play/watch.html",
        pub=pub,
        day=day if day is not None and day.status == "published" else None,
        films=films,
        chapters=chapters,
        clock=clock,
        has_captions=(media / "captions.sv.vtt").exists(),
    )


@archive.get("/play/<int:pub_id>/media/<path:name>")
async def play_media(pub_id: int, name: str) -> QuartResponse:
    _, folder = await _published(pub_id)
    root = (folder / "bag" / "data" / pubs.MEDIA_DIR).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        abort(404)
    return await send_file(
        path, mimetype=MEDIA_TYPES.get(path.suffix, "application/octet-stream"), conditional=True
    )
