"""Q&A over HTTP: the presenter view (projector, webcast overlay) and the exports for KB.

The presenter view opens for a logged-in moderator, or for anyone holding the event's signed
presenter key (`?key=...`), so an OBS browser source or the venue's projector PC can show it
without a staff login. The key only grants reading the question on screen. It does not expire;
changing SECRET_KEY revokes every key. The view polls a small JSON state (with an ETag on the
Q&A version) instead of opening a socket: the socket handshake needs a person, a projector is
not one, and polling once a second reads the database, which is right on any node.
"""

from __future__ import annotations

import json
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from quart import Blueprint, Response, request, url_for

from server.captions import service as captions
from server.platform import programme
from server.platform.auth import Principal
from server.platform.errors import Forbidden
from server.platform.exports import csv_bytes
from server.platform.web import current_principal, platform, render, require_principal
from server.polls import service as polls
from server.qa import service as qa
from server.recording import service as recording

qa_views = Blueprint("qa", __name__)
PRESENTER_SALT = "traffpunkt.presenter"
EXPORT_ROLES = ("moderator", "archivist")


def presenter_key(event_id: int) -> str:
    return URLSafeSerializer(platform().settings.secret_key, salt=PRESENTER_SALT).dumps(
        {"e": event_id})


def _key_ok(key: str | None, event_id: int) -> bool:
    if not key or len(key) > 200:
        return False
    try:
        data = URLSafeSerializer(platform().settings.secret_key, salt=PRESENTER_SALT).loads(key)
    except BadSignature:
        return False
    return isinstance(data, dict) and data.get("e") == event_id


async def _presenter_allowed(event_id: int) -> None:
    if _key_ok(request.args.get("key"), event_id):
        return
    principal = await current_principal()
    if principal is None or not principal.is_moderator:
        raise Forbidden("Presentatörsvyn kräver moderatorinloggning eller en giltig nyckel.",
                        key="auth.forbidden.presenter")


@qa_views.app_context_processor
async def _globals() -> dict[str, Any]:
    return {"qa_presenter_url": _presenter_url, "qa_is_speaker": _is_speaker}


def _is_speaker(principal: object) -> bool:
    """The live page offers written answers to speakers (the server checks again on `qa.answer`)."""
    return isinstance(principal, Principal) and qa.is_speaker(principal)


def _presenter_url(
    slug: str, event_id: int, transparent: bool = False, with_captions: bool = False
) -> str:
    extra: dict[str, Any] = {"transparent": 1} if transparent else {}
    if with_captions:
        extra["captions"] = 1
    return url_for("qa.presenter", slug=slug, key=presenter_key(event_id), **extra)


def _flag(name: str) -> bool:
    return request.args.get(name) in ("1", "true")


@qa_views.get("/e/<slug>/presenter")
async def presenter(slug: str) -> tuple[str, int]:
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        state = await qa.on_screen(db, event.id)
        recording_on = await recording.is_recording(db, event.id)
        poll = await polls.on_screen(db, event.id)
    await _presenter_allowed(event.id)
    return await render(
        "qa/presenter.html", event=event, state=state, key=request.args.get("key", ""),
        recording_on=recording_on, transparent=_flag("transparent"), poll=poll,
        with_captions=_flag("captions"),
    )


@qa_views.get("/e/<slug>/presenter/state")
async def presenter_state(slug: str) -> Response:
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        await _presenter_allowed(event.id)
        state = await qa.on_screen(db, event.id)
        # The projector in the hall tells those on site that the stage is being recorded.
        state["recording"] = await recording.is_recording(db, event.id)
        # With ?captions=1 the screen also shows the live caption being read (for the hall).
        state["caption"] = await captions.current(db, event.id) if _flag("captions") else None
        # A poll a moderator put on screen takes the question's place, its results live.
        state["poll"] = await polls.on_screen(db, event.id)
    etag = _presenter_etag(state)
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    body = json.dumps(state, ensure_ascii=False)
    return Response(body, content_type="application/json",
                    headers={"ETag": etag, "Cache-Control": "no-cache"})


def _presenter_etag(state: dict[str, Any]) -> str:
    """Changes with whatever the screen shows: the question, the badge, the caption, the poll."""
    caption = state["caption"]["id"] if state["caption"] else 0
    poll = state["poll"]
    shown = f'{poll["id"]}.{poll["status"]}.{".".join(map(str, poll["counts"]))}' if poll else "0"
    return f'"qa-{state["version"]}-{"r" if state["recording"] else "n"}-c{caption}-p{shown}"'


@qa_views.get("/e/<slug>/qa/export.<fmt>")
async def export(slug: str, fmt: str) -> Response:
    """Every question of the event, for moderators, archivists and admins.

    The reject reason is moderators' information: an archivist's export leaves the column out.
    """
    principal = await require_principal(*EXPORT_ROLES)
    moderator = principal.is_moderator
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await qa.export_rows(db, event.id, moderator=moderator)
    if fmt == "json":
        body = json.dumps({"event": event.slug, "questions": rows}, ensure_ascii=False, indent=1)
        return _download(body, "application/json", f"{event.slug}-fragor.json")
    if fmt == "csv":
        csv_body = _csv(rows, qa.export_fields(moderator))
        return _download(csv_body, "text/csv; charset=utf-8", f"{event.slug}-fragor.csv")
    return Response("Not found", status=404)


def _csv(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> bytes:
    return csv_bytes(rows, fields)


def _download(body: str | bytes, content_type: str, filename: str) -> Response:
    return Response(body, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
    })
