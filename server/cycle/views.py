"""KB's cycle view (/e/<slug>/cycle) and its export (/e/<slug>/cycle/export.xlsx)."""

from __future__ import annotations

import io

from docx import Document
from quart import Blueprint, Response

from server.cycle import service
from server.platform import programme
from server.platform.exports import xlsx_bytes
from server.platform.web import platform, render, require_principal, t

cycle = Blueprint("cycle", __name__)
KB = ("moderator", "archivist")  # and admins
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@cycle.get("/e/<slug>/cycle")
async def overview(slug: str) -> tuple[str, int]:
    await require_principal(*KB)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.overview(db, event.id)
    return await render("cycle/overview.html", event=event, rows=rows,
                        totals=service.totals(rows))


@cycle.get("/cycle/trends")
async def trends() -> tuple[str, int]:
    """Across events, per theme: regions that answered the theme and proposals naming it."""
    await require_principal(*KB)
    async with platform().db.session() as db:
        data = await service.trends(db)
    return await render("cycle/trends.html", **data)


@cycle.get("/e/<slug>/cycle/export.docx")
async def export_docx(slug: str) -> Response:
    """The cycle view as a DOCX for KB's report: totals, then a table of the regions."""
    await require_principal(*KB)
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        rows = await service.overview(db, event.id)
    document = Document()
    document.add_heading(f"{t('cycle.heading')}: {event.title}", level=1)
    totals = service.totals(rows)
    document.add_paragraph(t("cycle.totals", **totals))
    table = document.add_table(rows=1, cols=len(service.COLUMNS))
    table.style = "Table Grid"
    for cell, column in zip(table.rows[0].cells, service.COLUMNS, strict=True):
        cell.text = t(f"cycle.column.{column}")
    for row in rows:
        values = {**row, "feedback": t(f"feedback.state.{row['feedback']}")}
        for cell, column in zip(table.add_row().cells, service.COLUMNS, strict=True):
            cell.text = str(values[column])
    out = io.BytesIO()
    document.save(out)
    return Response(out.getvalue(), mimetype=DOCX, headers={
        "Content-Disposition": f'attachment; filename="traffpunkt-{event.slug}-uppfoljning.docx"'})


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
