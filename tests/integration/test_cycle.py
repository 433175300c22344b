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
