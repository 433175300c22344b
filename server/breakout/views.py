"""The breakout room page: /e/<slug>/rooms/<room_id>, for members and visiting moderators."""

from __future__ import annotations

from quart import Blueprint, redirect, url_for
from werkzeug.wrappers.response import Response

from server.breakout import service as breakout
from server.breakout.membership import leads_room, room_access
from server.platform import programme
from server.platform.web import current_principal, platform, render, with_devices

breakout_views = Blueprint("breakout", __name__)


@breakout_views.get("/e/<slug>/rooms/<int:room_id>")
async def room_page(slug: str, room_id: int) -> tuple[str, int, dict[str, str]] | Response:
    """The same membership rule as the sockets: a non-member gets 403 and sees nothing."""
    principal = await current_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        if principal is None:
            return redirect(url_for("pages.register_page", slug=slug))
        room = await room_access(db, principal, event.id, room_id, write=False)
        page = await breakout.room_page(db, room)
        page["leads"] = leads_room(principal, room)
    return with_devices(await render("breakout/room.html", event=event, room=room, page=page))
