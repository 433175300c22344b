"""The JSON API (documented at /openapi.json by quart-schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import tag, validate_response

from server.platform import programme as programmes
from server.platform import turn
from server.platform.errors import Forbidden
from server.platform.web import check_csrf, platform, require_principal, session_hash

api = Blueprint("api", __name__, url_prefix="/api")


class SpeakerOut(BaseModel):
    name: str
    title: str
    organisation: str


class ItemOut(BaseModel):
    id: int
    position: int
    title: str
    description: str
    starts_at: str | None
    duration_minutes: int | None
    organisations: list[str]  # besides the speakers' own, e.g. who wrote a report presented
    speakers: list[SpeakerOut]


class ThemeOut(BaseModel):
    key: str
    title: str


class EventRef(BaseModel):
    id: int
    slug: str
    title: str


class ProgrammeOut(BaseModel):
    event: EventRef
    current_item_id: int | None
    items: list[ItemOut]
    themes: list[ThemeOut]


class RegionOut(BaseModel):
    code: str
    name: str


class TokenOut(BaseModel):
    token: str
    event_id: int


@api.get("/events/<slug>")
@tag(["events"])
@validate_response(ProgrammeOut)
async def programme(slug: str) -> dict[str, Any]:
    """The event's programme, its current item and its §18 themes."""
    async with platform().db.session() as db:
        event = await programmes.get_event(db, slug)
    return programmes.programme_view(event)


@api.get("/regions")
@tag(["events"])
@validate_response(list[RegionOut])
async def regions() -> list[dict[str, str]]:
    """The 21 Swedish regions."""
    async with platform().db.session() as db:
        rows = await programmes.regions(db)
    return [{"code": r.code, "name": r.name} for r in rows]


@api.post("/events/<slug>/socket-token")
@tag(["auth"])
@validate_response(TokenOut)
async def socket_token(slug: str) -> dict[str, Any]:
    """A signed token for the socket.io handshake, bound to the caller and the event."""
    await check_csrf()
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programmes.get_event(db, slug)
    if not principal.is_staff and principal.event_id != event.id:
        raise Forbidden(
            "Du är inte anmäld till detta evenemang.", key="auth.forbidden.not_registered"
        )
    token = platform().tokens.socket_token(principal, event.id, session_hash())
    return {"token": token, "event_id": event.id}


@api.get("/ice-servers")
@tag(["media"])
async def ice_servers() -> tuple[dict[str, Any], int, dict[str, str]]:
    """STUN and TURN servers for the caller's peer connections (`{"iceServers": [RTCIceServer],
    "ttl": seconds}`), TURN with a credential of its own that expires after TURN_TTL_SECONDS
    (coturn's REST scheme). Asked for before each new connection; never cached by a proxy.
    No response model: a STUN entry must have no `username` at all, not a null one."""
    principal = await require_principal()
    settings = platform().settings
    servers = [s.as_dict() for s in turn.ice_servers(settings, turn.user_of(principal))]
    return ({"iceServers": servers, "ttl": settings.turn_ttl_seconds}, 200,
            {"Cache-Control": "no-store"})
