"""The captioner's page: listen to the stage, type lines (sent as `captions.send`)."""

from __future__ import annotations

from quart import Blueprint

from server.captions import service as captions
from server.platform import programme
from server.platform.web import platform, render, require_principal

captions_views = Blueprint("captions", __name__)


@captions_views.get("/e/<slug>/captions")
async def captioner(slug: str) -> tuple[str, int]:
    principal = await require_principal()
    captions.require_captioner(principal)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    return await render("captions/captioner.html", event=event)
