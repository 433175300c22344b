"""KB's cycle view (/e/<slug>/cycle) and its export (/e/<slug>/cycle/export.xlsx)."""

from __future__ import annotations

from quart import Blueprint, Response

from server.cycle import service
from server.platform import programme
from server.platform.exports import xlsx_bytes
from server.platform.web import platform, render, require_principal, t

cycle = Blueprint("cycle", __name__)
KB = ("moderator", "archivist")  # and admins
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@cycle.get("/e/<slug>/cycle")
async def overview(slug: str) -> tuple[str, int]:
    await require_principal(*KB)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.overview(db, event.id)
    return await render("cycle/overview.html", event=event, rows=rows,
                        totals=service.totals(rows))


@cycle.get("/e/<slug>/cycle/export.xlsx")
async def export(slug: str) -> Response:
    await require_principal(*KB)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.overview(db, event.id)
    named = [{**r, "feedback": t(f"feedback.state.{r['feedback']}")} for r in rows]
    headers = {c: t(f"cycle.column.{c}") for c in service.COLUMNS}
    body = xlsx_bytes(t("cycle.heading"), [{headers[c]: r[c] for c in service.COLUMNS}
                                           for r in named], list(headers.values()))
    return Response(body, mimetype=XLSX, headers={
        "Content-Disposition": f'attachment; filename="traffpunkt-{event.slug}-uppfoljning.xlsx"'})
