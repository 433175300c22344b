"""Proposals (issue 24 point 4), over HTTP on PostgreSQL with mail to a real SMTP server: a
municipal participant proposes content and a report, KB's moderator sees them by region and
theme, decides with a note back (the proposer reads it on the page and gets it by mail), and an
accepted content proposal becomes an item of the next event's programme in one step."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from server.platform.models import Event, ProgrammeItem, Theme
from server.programme.importer import import_event, read_event_file
from server.proposals.models import Proposal
from tests.conftest import DEMO, get_csrf, register, signed_in
from tests.integration.test_staff_admin import configure_smtp, delivered
from tests.integration.test_staff_roles import post
from tests.mail import plain_text

SLUG = "hosten-2020"
PAGE = f"/e/{SLUG}/proposals"
IDEA = {"kind": "content", "title": "Uppföljning i små kommuner",
        "description": "Hur Krokom följer upp sin biblioteksplan med små medel.",
        "proposer": "Anna Berg", "organisation": "Krokoms bibliotek", "region": "Z",
        "municipality": "Krokom", "email": "anna@krokom.se",
        "links": "https://krokom.se/biblioteksplan\nhttps://example.se/rapport"}


async def theme_key(app: Any) -> str:
    async with app.platform.db.session() as db:
        event = await db.scalar(select(Event.id).where(Event.slug == SLUG))
        return str(await db.scalar(select(Theme.key).where(Theme.event_id == event)
                                   .order_by(Theme.position)))


async def test_a_proposal_is_reviewed_and_taken_into_the_next_programme(app, smtp) -> None:
    configure_smtp(app, smtp)
    theme = await theme_key(app)
    anna = app.quart.test_client()
    await register(anna, name="Anna Berg", region="Z", municipality="Krokom",
                   email="anna@krokom.se")
    page = (await (await anna.get(PAGE)).get_data()).decode()
    assert 'value="Krokoms bibliotek"' not in page and 'value="Anna Berg"' in page

    bad = await post(anna, PAGE, {**IDEA, "links": "javascript:alert(1)", "title": ""})
    text = (await bad.get_data()).decode()
    assert bad.status_code == 422 and "Varje rad ska vara en länk" in text
    assert "Fältet är obligatoriskt." in text
    sent = await post(anna, PAGE, {**IDEA, "theme": theme})
    assert sent.status_code == 302
    report = await post(anna, PAGE, {**IDEA, "kind": "report", "title": "Krokoms rapport",
                                     "links": ""})
    assert report.status_code == 302
    mine = (await (await anna.get(PAGE)).get_data()).decode()
    assert "Uppföljning i små kommuner" in mine and "Nytt" in mine

    assert (await anna.get(f"{PAGE}/review")).status_code == 403
    moderator = await signed_in(app, "moderator")
    review = (await (await moderator.get(f"{PAGE}/review?region=Z")).get_data()).decode()
    assert "Uppföljning i små kommuner" in review and "Krokoms rapport" in review
    assert "Jämtland Härjedalen" in review
    by_theme = (await (await moderator.get(f"{PAGE}/review?theme={theme}")).get_data()).decode()
    assert "Uppföljning i små kommuner" in by_theme and "Krokoms rapport" not in by_theme

    async with app.platform.db.session() as db:
        idea = await db.scalar(select(Proposal).where(Proposal.kind == "content"))
        other = await db.scalar(select(Proposal).where(Proposal.kind == "report"))
    assert (await post(moderator, f"{PAGE}/{idea.id}/review", {
        "status": "accepted", "note": "Vi tar med det i våren 2027."})).status_code == 302
    mail = await delivered(app, smtp, "anna@krokom.se",
                           "Ditt förslag: Uppföljning i små kommuner")
    assert "Status: Antaget." in plain_text(mail) and "våren 2027" in plain_text(mail)
    mine = (await (await anna.get(PAGE)).get_data()).decode()
    assert "Vi tar med det i våren 2027." in mine and "Antaget" in mine

    async with app.platform.db.transaction() as db:  # the next event, copied
        await import_event(db, read_event_file(DEMO).model_copy(update={
            "slug": "varen-2027", "title": "Träffpunkt biblioteksplaner våren 2027"}))
        spring = await db.scalar(select(Event.id).where(Event.slug == "varen-2027"))
    assert (await post(moderator, f"{PAGE}/{other.id}/take", {"event": str(spring)})) \
        .status_code == 409, "a report is not programme content"
    taken = await post(moderator, f"{PAGE}/{idea.id}/take", {"event": str(spring)})
    assert taken.status_code == 302 and "taken=" in taken.headers["Location"]
    assert (await post(moderator, f"{PAGE}/{idea.id}/take", {"event": str(spring)})) \
        .status_code == 409, "once"
    async with app.platform.db.session() as db:
        item = await db.scalar(select(ProgrammeItem).where(
            ProgrammeItem.event_id == spring).order_by(ProgrammeItem.position.desc()).limit(1))
    assert item.title == "Uppföljning i små kommuner"
    assert item.organisations == ["Krokoms bibliotek"]
    assert [m["url"] for m in item.materials] == ["https://krokom.se/biblioteksplan",
                                                 "https://example.se/rapport"]
    programme = (await (await anna.get("/e/varen-2027")).get_data()).decode()
    assert "Uppföljning i små kommuner" in programme


async def test_a_proposal_document_is_checked_and_only_its_readers_download_it(app) -> None:
    anna = app.quart.test_client()
    await register(anna, name="Anna Berg", region="Z")
    token = await get_csrf(anna, PAGE)
    pdf = (b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    wrong = await anna.post(PAGE, form={**IDEA, "csrf_token": token},
                            files={"document": FileStorage(io.BytesIO(b"MZ\x90"), "rapport.pdf")})
    assert wrong.status_code == 422
    assert "Filen är inte en PDF som går att öppna." in (await wrong.get_data()).decode()
    sent = await anna.post(PAGE, form={**IDEA, "csrf_token": await get_csrf(anna, PAGE)},
                           files={"document": FileStorage(io.BytesIO(pdf), "Rapport.pdf")})
    assert sent.status_code == 302
    async with app.platform.db.session() as db:
        row = (await db.scalars(select(Proposal))).one()
    got = await anna.get(f"{PAGE}/{row.id}/document")
    assert got.status_code == 200 and (await got.get_data()) == pdf
    assert got.headers["Content-Type"] == "application/pdf"
    moderator = await signed_in(app, "moderator")
    assert (await moderator.get(f"{PAGE}/{row.id}/document")).status_code == 200
    other = app.quart.test_client()
    await register(other, name="Lars Malm", region="M")
    assert (await other.get(f"{PAGE}/{row.id}/document")).status_code == 403
