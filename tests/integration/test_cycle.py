"""KB's follow-up view across the cycle (issue 24 point 6, per region): a region's follow-up
meeting (date, participants, municipalities present), its feedback and its proposals, on the
page and in the XLSX export; for KB only. HTTP on PostgreSQL."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from server.followup.models import FollowUpMeeting
from tests.conftest import VALID_REGISTRATION, get_csrf, register, signed_in
from tests.integration.test_followup import facilitator, schedule
from tests.integration.test_proposals import IDEA
from tests.integration.test_staff_roles import post

SLUG = "hosten-2020"


async def test_kb_sees_each_regions_meeting_feedback_and_proposals(app) -> None:
    karin = await facilitator(app)
    assert (await schedule(karin)).status_code == 302
    async with app.platform.db.session() as db:
        meeting = (await db.scalars(select(FollowUpMeeting))).one()
    link = f"/e/{SLUG}/followup/{meeting.id}/join/{meeting.invite_key}"
    for name, municipality in (("Anna Berg", "Östersund"), ("Per Ek", "Krokom"),
                               ("Eva Ek", "Krokom")):
        person = app.quart.test_client()
        assert (await person.post(link, form={
            **VALID_REGISTRATION, "name": name, "municipality": municipality, "region": "Z",
            "csrf_token": await get_csrf(person, link)})).status_code == 302
    proposer = app.quart.test_client()
    await register(proposer, name="Lars Holm", region="Z", municipality="Krokom")
    assert (await post(proposer, f"/e/{SLUG}/proposals", IDEA)).status_code == 302

    assert (await proposer.get(f"/e/{SLUG}/cycle")).status_code == 403
    moderator = await signed_in(app, "moderator")
    page = (await (await moderator.get(f"/e/{SLUG}/cycle")).get_data()).decode()
    assert "1 av 21 regioner har hållit uppföljningsmöte" in page
    row = page.split('id="region-Z"')[1].split("</tr>")[0]
    assert "2020-11-02" in row and "<td>3</td>" in row and "Krokom, Östersund" in row
    assert "Inte påbörjad" in row
    skane = page.split('id="region-M"')[1].split("</tr>")[0]
    assert "Inget möte" in skane

    export = await moderator.get(f"/e/{SLUG}/cycle/export.xlsx")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(await export.get_data())).active
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    jamtland = rows["Jämtland Härjedalen"]
    assert jamtland[1:5] == (1, "2020-11-02", 3, "Krokom, Östersund")
    assert jamtland[8] == 1, "one proposal from the region"


async def test_trends_by_theme_across_events_and_the_docx_report(app) -> None:
    """Autumn 2020: two regions answered on follow-up (uppfoljning), one proposal named it;
    spring 2027 (a published copy): none yet. The chart's numbers are text, not colour."""
    from datetime import UTC, datetime

    from docx import Document

    from server.feedback.models import FeedbackResponse
    from server.platform.models import Event
    from server.programme.importer import import_event, read_event_file
    from tests.conftest import DEMO

    async with app.platform.db.transaction() as db:
        autumn = await db.scalar(select(Event.id).where(Event.slug == SLUG))
        for code, answers in (("Z", {"uppfoljning": "Årligen"}), ("M", {"uppfoljning": "Ja"}),
                              ("AB", {"uppfoljning": ""})):
            db.add(FeedbackResponse(event_id=autumn, region_code=code, answers=answers))
        await import_event(db, read_event_file(DEMO).model_copy(update={
            "slug": "varen-2027", "title": "Träffpunkt biblioteksplaner våren 2027",
            "status": "published",
            "starts_at": datetime(2027, 4, 20, 9, tzinfo=UTC), "ends_at": None}))
    proposer = app.quart.test_client()
    await register(proposer, name="Lars Holm", region="Z")
    assert (await post(proposer, f"/e/{SLUG}/proposals",
                       {**IDEA, "theme": "uppfoljning"})).status_code == 302
    moderator = await signed_in(app, "moderator")
    assert (await proposer.get("/cycle/trends")).status_code == 403
    page = (await (await moderator.get("/cycle/trends")).get_data()).decode()
    section = page.split('id="theme-uppfoljning"')[1].split("</section>")[0]
    rows = section.split("<tbody>")[1]
    autumn_row, spring_row = rows.split("</tr>")[:2]
    assert "hösten 2020" in autumn_row and "<td>2</td><td>1</td>" in autumn_row
    assert "våren 2027" in spring_row and "<td>0</td><td>0</td>" in spring_row
    assert '<svg role="img"' in section and ">2</text>" in section

    report = await moderator.get(f"/e/{SLUG}/cycle/export.docx")
    assert report.status_code == 200
    document = Document(io.BytesIO(await report.get_data()))
    table = document.tables[0]
    assert table.rows[0].cells[0].text == "Region"
    assert any(r.cells[0].text == "Jämtland Härjedalen" and r.cells[8].text == "1"
               for r in table.rows[1:])
