"""Notes over HTTP: a room's editor page, the cross-room view per theme, and the exports.

The pages render the stored text, so they read well before (or without) the socket; the
editor and the live view then run y-protocols over socket.io (static/js/notes*.js).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from sqlalchemy import func, select

from server.breakout.membership import room_access
from server.breakout.models import BreakoutRoom
from server.notes.export import FORMATS, Labels, by_room, by_theme
from server.notes.export import render as render_export
from server.notes.service import REGISTRY, export_parts
from server.platform import programme
from server.platform.errors import DomainError
from server.platform.web import platform, render, require_principal, t

notes_views = Blueprint("notes", __name__)
READERS = ("moderator", "archivist")


@notes_views.get("/e/<slug>/rooms/<int:room_id>/notes")
async def room_notes(slug: str, room_id: int) -> tuple[str, int]:
    """A room's notes on a page of their own (the breakout room page includes the same panel)."""
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        room = await room_access(db, principal, event.id, room_id, write=False)
    return await render("notes/room.html", event=event, room=room)


@notes_views.get("/e/<slug>/notes")
async def overview(slug: str) -> tuple[str, int]:
    """Every room's section for one theme, side by side, live and read-only."""
    await require_principal(*READERS)
    await _flush_this_node()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        parts = await export_parts(db, event.id)
        latest = await db.scalar(
            select(func.max(BreakoutRoom.round_id)).where(BreakoutRoom.event_id == event.id))
    theme = _pick_theme(event, request.args.get("theme"))
    shown = [p for p in parts if p["theme"] == theme and p["round_id"] == latest]
    return await render("notes/overview.html", event=event, theme=theme, parts=shown)


@notes_views.get("/e/<slug>/notes/export")
async def export(slug: str) -> Response:
    """`?theme=<key>` or `?room=<id>`, and `format=md|docx|json`."""
    await require_principal(*READERS)
    fmt = request.args.get("format", "md")
    if fmt not in FORMATS:
        raise DomainError("notes.format", "Okänt exportformat.")
    await _flush_this_node()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        parts = await export_parts(db, event.id)
    document, name = _document(event, parts)
    body = render_export(document, fmt, _labels())
    return Response(body, content_type=FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _document(event: Any, parts: list[dict[str, Any]]) -> tuple[Any, str]:
    room = request.args.get("room", "")
    if room.isdigit():
        if not any(p["room_id"] == int(room) for p in parts):
            raise DomainError("room.not_found", "Rummet finns inte.")
        return by_room(parts, int(room), event.title, _labels()), f"{event.slug}-rum-{room}"
    theme = _pick_theme(event, request.args.get("theme"))
    return by_theme(parts, theme, event.title, _labels()), f"{event.slug}-{theme}"


def _pick_theme(event: Any, wanted: str | None) -> str:
    keys: list[str] = [theme.key for theme in event.themes]
    if not keys:
        raise DomainError("notes.no_themes", "Evenemanget har inga teman.")
    if wanted is None or wanted == "":
        return keys[0]
    if wanted not in keys:
        raise DomainError("notes.theme_not_found", "Temat finns inte.")
    return wanted


def _labels() -> Labels:
    return Labels(t("notes.region"), t("notes.facilitator"), t("notes.none"), t("notes.empty"))


async def _flush_this_node() -> None:
    """Exports read the database: write this node's buffered note updates first."""
    await platform().need(REGISTRY).storage.flush()
