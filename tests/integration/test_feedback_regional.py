"""Feedback in the region's chosen form (issue 24 point 3), over HTTP on PostgreSQL: the region
attaches a document (checked, capped, downloaded only by those who may read the region's
response), adds its own questions, and its municipalities answer them with a short feedback of
their own; a deleted participant's answer stays without their name."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import docx
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from server.feedback.models import FeedbackAttachment, MunicipalFeedback
from server.platform.models import Registration
from server.platform.registration import FORGETTING
from tests.conftest import get_csrf, register, signed_in
from tests.integration.test_followup import facilitator
from tests.integration.test_staff_roles import post

SLUG = "hosten-2020"
REGION = f"/e/{SLUG}/feedback/regions/Z"


def report() -> bytes:
    out = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Rapport från uppföljningsmötet i Jämtland Härjedalen")
    document.save(out)
    return out.getvalue()


async def upload(client: Any, name: str, data: bytes, region: str = "Z") -> Any:
    token = await get_csrf(client, f"/e/{SLUG}/feedback/regions/{region}")
    return await client.post(
        f"/e/{SLUG}/feedback/regions/{region}/documents/new",
        files={"document": FileStorage(io.BytesIO(data), name)}, form={"csrf_token": token})


async def test_a_region_attaches_a_document_that_only_its_readers_download(app) -> None:
    karin = await facilitator(app)
    refused = await upload(karin, "rapport.docx", b"<html>not a document</html>")
    page = (await refused.get_data()).decode()
    assert refused.status_code == 422
    assert 'id="f-document-error" role="alert">Filen är trasig och går inte att öppna.' in page
    done = await upload(karin, "Rapport hösten.docx", report())
    assert done.status_code == 302
    page = (await (await karin.get(done.headers["Location"].split("#")[0])).get_data()).decode()
    assert "Filen är bifogad." in page and "Rapport hösten.docx" in page
    async with app.platform.db.session() as db:
        row = (await db.scalars(select(FeedbackAttachment))).one()
    stored = (app.platform.settings.media_root / row.path).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == row.sha256 and stored.startswith(b"PK")
    assert row.path.startswith("feedback/") and "hösten" not in row.path, "a name of ours"

    got = await karin.get(f"{REGION}/documents/{row.id}")
    assert got.status_code == 200 and (await got.get_data()).startswith(b"PK")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert "wordprocessingml" in got.headers["Content-Type"]
    moderator = await signed_in(app, "moderator")  # KB reads every region
    assert (await moderator.get(f"{REGION}/documents/{row.id}")).status_code == 200
    skane = app.quart.test_client()
    await register(skane, name="Lars Malm", region="M")
    assert (await skane.get(f"{REGION}/documents/{row.id}")).status_code == 403
    assert (await skane.get(f"/e/{SLUG}/feedback/regions/M/documents/{row.id}")).status_code \
        == 404, "not another region's file by its id"
    assert (await upload(skane, "rapport.docx", report())).status_code == 403

    big = await upload(karin, "stor.pdf", b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024))
    assert big.status_code == 413
    gone = await post(karin, f"{REGION}/documents/{row.id}/delete", {})
    assert gone.status_code == 302
    assert not (app.platform.settings.media_root / row.path).exists()


async def test_municipalities_answer_the_regions_own_questions(app) -> None:
    karin = await facilitator(app)
    participant = app.quart.test_client()
    await register(participant, name="Anna Berg", region="Z", municipality="Östersund")
    assert (await post(participant, f"{REGION}/questions/new",
                       {"question": "Hur följer ni upp?"})).status_code == 403
    long = await post(karin, f"{REGION}/questions/new", {"question": "x" * 501})
    assert long.status_code == 422
    assert "Frågan måste ha 1–500 tecken." in (await long.get_data()).decode()
    for question in ("Hur följer ni upp biblioteksplanen?", "Vad behöver ni från regionen?"):
        assert (await post(karin, f"{REGION}/questions/new",
                           {"question": question})).status_code == 302

    page = (await (await participant.get(f"/e/{SLUG}/feedback/municipal")).get_data()).decode()
    assert "Hur följer ni upp biblioteksplanen?" in page and 'value="Östersund"' in page
    empty = await post(participant, f"/e/{SLUG}/feedback/municipal", {"municipality": "Östersund"})
    assert empty.status_code == 422
    assert "Skriv något innan du skickar." in (await empty.get_data()).decode()
    async with app.platform.db.session() as db:
        from server.feedback.models import RegionQuestion

        first, second = list(await db.scalars(select(RegionQuestion.id)
                                              .order_by(RegionQuestion.id)))
    sent = await post(participant, f"/e/{SLUG}/feedback/municipal", {
        "municipality": "Östersund", f"q-{first}": "Årligen i nämnden",
        f"q-{second}": "=HYPERLINK(\"http://evil\")", "text": "Bra dag."})
    assert sent.status_code == 302
    colleague = app.quart.test_client()  # the same municipality: one answer, the latest
    await register(colleague, name="Per Ek", region="Z", municipality="Östersund")
    assert (await post(colleague, f"/e/{SLUG}/feedback/municipal", {
        "municipality": "Östersund", f"q-{first}": "Varje år", "text": ""})).status_code == 302

    region = (await (await karin.get(REGION)).get_data()).decode()
    assert "Östersund" in region and "Varje år" in region and "Per Ek" in region
    assert "Årligen i nämnden" not in region
    async with app.platform.db.session() as db:
        rows = list(await db.scalars(select(MunicipalFeedback)))
        per = await db.scalar(select(Registration).where(Registration.name == "Per Ek"))
    assert len(rows) == 1 and rows[0].answers == {str(first): "Varje år"}

    async with app.platform.db.transaction() as db:  # Per's registration is deleted
        await app.platform.need(FORGETTING)(db, per.id)
        await db.delete(await db.get(Registration, per.id))
    region = (await (await karin.get(REGION)).get_data()).decode()
    assert "Varje år" in region and "Per Ek" not in region and "Anonym" in region

    staff = await signed_in(app, "moderator")
    assert (await staff.get(f"/e/{SLUG}/feedback/municipal")).status_code == 403
