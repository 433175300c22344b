"""The captioner's page: listen to the stage, type lines (sent as `captions.send`)."""

from __future__ import annotations

from quart import Blueprint

from .. import captions
from .. import events as event_service
from ..web import platform, render, require_principal

captions_views = Blueprint("captions", __name__)


@captions_views.get("/e/<slug>/captions")
async def captioner(slug: str) -> tuple[str, int]:
    principal = await require_principal()
    captions.require_captioner(principal)
    async with platform().db.session() as db:
        event = await event_service.get_event(db, slug)
    return await render("captions/captioner.html", event=event)
