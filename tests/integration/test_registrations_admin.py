"""Registrations as organisers and participants handle them: list, search, filter, counts per
region, CSV and XLSX exports, correction, a new join link, deletion (by staff or by the person)
and the retention period, through HTTP on the real PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select, update

from server.mail.models import OutboxMessage
from server.platform.models import Event, Registration, WebSession, utcnow
from server.platform.registration import FORGETTING
from server.qa.models import Question, QuestionVote
from server.registrations.service import anonymise_expired
from tests.conftest import get_csrf, register, signed_in

PEOPLE = [
    {"name": "Åsa Öberg", "region": "M", "municipality": "Malmö", "attendance": "online"},
    {"name": "Bo Ek", "region": "M", "municipality": "Lund", "attendance": "on_site"},
    {"name": "Cilla Lind", "region": "AB", "municipality": "Solna", "attendance": "online",
     "organisation": "Solna stadsbibliotek"},
    {"name": "=HYPERLINK(\"http://evil\")", "region": "national", "municipality": "",
     "attendance": "online", "email": "evil@example.se"},
    {"name": "50% Procent", "region": "AB", "municipality": "Solna", "attendance": "online",
     "email": "procent@example.se"},
]


async def seed_people(app) -> dict[str, object]:  # type: ignore[no-untyped-def]
    clients = {}
    for person in PEOPLE:
        client = app.quart.test_client()
        local = re.sub(r"[^a-z]", "", str(person["name"]).lower()) or "x"
        fields = {"email": f"{local}@example.se", **person}
        assert (await register(client, **fields)).status_code == 302
        clients[str(person["name"])] = client
    return clients


async def reg_by_name(app, name: str) -> Registration:  # type: ignore[no-untyped-def]
    async with app.platform.db.session() as db:
        return await db.scalar(select(Registration).where(Registration.name == name))


def names_in(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/e/hosten-2020/registrations/\d+">([^<]+)</a>',
                      html)


async def test_organisers_list_search_filter_and_count_per_region(app) -> None:
    await seed_people(app)
    moderator = await signed_in(app, "moderator")
    page = (await (await moderator.get("/e/hosten-2020/registrations")).get_data()).decode()
    assert len(names_in(page)) == 5
    counts = re.search(r'<th scope="row"><a href="\?region=M">Skåne</a></th>'
                       r'<td class="n">(\d+)</td><td class="n">(\d+)</td><td class="n">(\d+)</td>',
                       page)
    assert counts and counts.groups() == ("1", "1", "2"), "Skåne: 1 online, 1 on site, 2 in all"
    assert 'id="count-total">5<' in page

    async def shown(query: str) -> list[str]:
        response = await moderator.get(f"/e/hosten-2020/registrations?{query}")
        assert response.status_code == 200
        return sorted(names_in((await response.get_data()).decode()))

    assert await shown("region=M") == ["Bo Ek", "Åsa Öberg"]
    assert await shown("region=M&attendance=on_site") == ["Bo Ek"]
    assert await shown("q=solna") == ["50% Procent", "Cilla Lind"], "organisation matches"
    assert await shown("municipality=LUND") == ["Bo Ek"]
    assert await shown("q=%25") == ["50% Procent"], "a % typed is a %, not a wildcard"
    assert await shown("region=national") == ["=HYPERLINK(&#34;http://evil&#34;)"]
    assert await shown("q=" + "x" * 5000 + "&page=99999999999&region=<script>") == []


async def test_only_moderators_and_admins_see_registrations(app) -> None:
    clients = await seed_people(app)
    participant = clients["Åsa Öberg"]
    for path in ("/e/hosten-2020/registrations", "/e/hosten-2020/registrations/export.csv",
                 "/e/hosten-2020/registrations/1"):
        assert (await participant.get(path)).status_code == 403, path
        assert (await app.quart.test_client().get(path)).status_code == 401, path
    archivist = await signed_in(app, "archivist")
    assert (await archivist.get("/e/hosten-2020/registrations")).status_code == 403
    admin = await signed_in(app, "admin")
    assert (await admin.get("/e/hosten-2020/registrations")).status_code == 200


async def test_exports_are_filtered_and_spreadsheet_safe(app) -> None:
    await seed_people(app)
    moderator = await signed_in(app, "moderator")
    response = await moderator.get("/e/hosten-2020/registrations/export.csv?region=national")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('anmalningar-hosten-2020.csv"')
    text = (await response.get_data()).decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("id,name,email")
    assert "'=HYPERLINK" in lines[1], "a formula is neutralised"
    response = await moderator.get("/e/hosten-2020/registrations/export.xlsx")
    sheet = load_workbook(io.BytesIO(await response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 6
    cell = next(c for row in sheet.iter_rows() for c in row if c.value == '=HYPERLINK("http://evil")')
    assert cell.data_type == "s", "written as text, never a formula"


async def test_a_correction_is_saved_audited_and_renames_questions(app) -> None:
    await seed_people(app)
    bo = await reg_by_name(app, "Bo Ek")
    async with app.platform.db.transaction() as db:
        db.add(Question(event_id=bo.event_id, registration_id=bo.id, author_name="Bo Ek",
                        text="Hur följer ni upp planen?", state="approved"))
    moderator = await signed_in(app, "moderator")
    path = f"/e/hosten-2020/registrations/{bo.id}"
    page = (await (await moderator.get(path)).get_data()).decode()
    assert 'value="Bo Ek"' in page
    form = {"name": "Bo Ekström", "email": "bo@example.se", "organisation": "Lunds bibliotek",
            "municipality": "Lund", "region": "M", "job_role": "", "attendance": "on_site",
            "csrf_token": await get_csrf(moderator, path)}
    bad = await moderator.post(path, form={**form, "name": ""})
    assert bad.status_code == 422 and 'id="f-name-error">Fältet är obligatoriskt.<' in (
        await bad.get_data()).decode()
    saved = await moderator.post(path, form=form)
    assert saved.status_code == 302
    assert "Ändringarna är sparade" in (await (await moderator.get(
        saved.headers["Location"])).get_data()).decode()
    async with app.platform.db.session() as db:
        assert (await db.get(Registration, bo.id)).name == "Bo Ekström"
        assert await db.scalar(select(Question.author_name)) == "Bo Ekström"


async def test_deleting_a_registration_keeps_what_others_made(app) -> None:
    clients = await seed_people(app)
    asa, bo = await reg_by_name(app, "Åsa Öberg"), await reg_by_name(app, "Bo Ek")
    async with app.platform.db.transaction() as db:
        mine = Question(event_id=asa.event_id, registration_id=asa.id, author_name="Åsa Öberg",
                        text="Min fråga", state="approved")
        theirs = Question(event_id=asa.event_id, registration_id=bo.id, author_name="Bo Ek",
                          text="Bos fråga", state="approved")
        db.add_all([mine, theirs])
        await db.flush()
        db.add_all([QuestionVote(question_id=theirs.id, registration_id=asa.id),
                    QuestionVote(question_id=mine.id, registration_id=bo.id)])
    assert (await clients["Åsa Öberg"].get("/e/hosten-2020/live")).status_code == 200
    moderator = await signed_in(app, "moderator")
    path = f"/e/hosten-2020/registrations/{asa.id}/delete"
    confirm = (await (await moderator.get(path)).get_data()).decode()
    assert "Vill du ta bort anmälan för Åsa Öberg" in confirm
    done = await moderator.post(path, form={"csrf_token": await get_csrf(moderator, path)})
    assert done.status_code == 302
    async with app.platform.db.session() as db:
        assert await db.get(Registration, asa.id) is None
        questions = {q.text: q for q in await db.scalars(select(Question))}
        votes = set((await db.execute(select(QuestionVote.question_id,
                                             QuestionVote.registration_id))).all())
        sessions = await db.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.registration_id == asa.id))
    assert (questions["Min fråga"].author_name, questions["Min fråga"].anonymous) == ("", True)
    assert questions["Min fråga"].registration_id is None
    assert questions["Bos fråga"].author_name == "Bo Ek", "another's question is untouched"
    assert votes == {(questions["Min fråga"].id, bo.id)}, "only her own vote went"
    assert sessions == 0
    assert (await clients["Åsa Öberg"].get("/e/hosten-2020/live")).status_code == 302, \
        "her browser's session ended"
    assert (await clients["Bo Ek"].get("/e/hosten-2020/live")).status_code == 200


async def test_a_new_link_ends_the_old_one_and_is_mailed(app) -> None:
    clients = await seed_people(app)
    asa = await reg_by_name(app, "Åsa Öberg")
    moderator = await signed_in(app, "moderator")
    path = f"/e/hosten-2020/registrations/{asa.id}"
    token = await get_csrf(moderator, path)
    done = await moderator.post(f"{path}/link", form={"csrf_token": token})
    assert done.status_code == 302
    new = await reg_by_name(app, "Åsa Öberg")
    assert new.join_key != asa.join_key
    old = await app.quart.test_client().get(f"/e/hosten-2020/join/{asa.join_key}")
    assert old.status_code == 404
    assert (await clients["Åsa Öberg"].get("/e/hosten-2020/live")).status_code == 302
    fresh = await app.quart.test_client().get(f"/e/hosten-2020/join/{new.join_key}")
    assert fresh.status_code == 302 and fresh.headers["Location"].endswith("/live")
    async with app.platform.db.session() as db:
        mail = await db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "link"))
    assert mail.to_address == asa.email and new.join_key in mail.body


async def test_a_participant_sees_and_deletes_their_own_registration(app) -> None:
    clients = await seed_people(app)
    cilla = clients["Cilla Lind"]
    page = (await (await cilla.get("/e/hosten-2020/me")).get_data()).decode()
    assert "Cilla Lind" in page and "Solna stadsbibliotek" in page and "Stockholm" in page
    path = "/e/hosten-2020/me/delete"
    assert "Vill du ta bort anmälan" in (await (await cilla.get(path)).get_data()).decode()
    done = await cilla.post(path, form={"csrf_token": await get_csrf(cilla, path)})
    assert done.status_code == 302
    assert await reg_by_name(app, "Cilla Lind") is None
    assert (await cilla.get("/e/hosten-2020/me")).status_code == 401, "signed out"
    # Another participant's /me shows only their own registration.
    page = (await (await clients["Bo Ek"].get("/e/hosten-2020/me")).get_data()).decode()
    assert "Bo Ek" in page and "Åsa" not in page


async def test_registrations_are_anonymised_after_the_retention_period(app) -> None:
    clients = await seed_people(app)
    asa = await reg_by_name(app, "Åsa Öberg")
    async with app.platform.db.transaction() as db:
        db.add(Question(event_id=asa.event_id, registration_id=asa.id, author_name="Åsa Öberg",
                        text="Fråga", state="approved"))
        event = await db.scalar(select(Event))
        ended = event.ends_at or event.starts_at
    moderator = await signed_in(app, "moderator")
    admin = await signed_in(app, "admin")
    path = "/e/hosten-2020/registrations/retention"
    token = await get_csrf(admin, "/e/hosten-2020/registrations")
    assert (await moderator.post(path, form={
        "months": "6", "csrf_token": await get_csrf(moderator, "/")})).status_code == 403
    assert (await admin.post(path, form={"months": "0", "csrf_token": token})).status_code == 400
    assert (await admin.post(path, form={"months": "6", "csrf_token": token})).status_code == 302
    page = (await (await admin.get("/e/hosten-2020/registrations")).get_data()).decode()
    assert "anonymiseras 6 månader efter evenemanget" in page
    forgetting = app.platform.need(FORGETTING)
    async with app.platform.db.transaction() as db:  # registered before the event (2020)
        await db.execute(update(Registration).values(created_at=ended - timedelta(days=30)))
        assert await anonymise_expired(db, forgetting, ended + timedelta(days=150)) == 0
    async with app.platform.db.transaction() as db:
        assert await anonymise_expired(db, forgetting, ended + timedelta(days=200)) == 5
    async with app.platform.db.transaction() as db:
        assert await anonymise_expired(db, forgetting, utcnow()) == 0, "once"
    async with app.platform.db.session() as db:
        regs = list(await db.scalars(select(Registration)))
        question = await db.scalar(select(Question))
    assert {(r.name, r.email, r.organisation) for r in regs} == {("", None, "")}
    assert sorted(r.region_code or "" for r in regs) == ["", "AB", "AB", "M", "M"], \
        "the region stays for the statistics"
    assert (question.author_name, question.anonymous) == ("", True)
    assert (await app.quart.test_client().get(
        f"/e/hosten-2020/join/{asa.join_key}")).status_code == 404
    assert (await clients["Bo Ek"].get("/e/hosten-2020/live")).status_code == 302


async def test_who_registers_after_a_past_event_is_kept_the_retention_period(app) -> None:
    """People still register for the autumn 2020 demo to watch it: each registration is kept
    the retention period after it was made."""
    await seed_people(app)
    forgetting = app.platform.need(FORGETTING)
    async with app.platform.db.transaction() as db:
        assert await anonymise_expired(db, forgetting, utcnow()) == 0
        assert await anonymise_expired(db, forgetting, utcnow() + timedelta(days=370)) == 5


async def test_the_privacy_notice_says_what_the_address_is_for(client) -> None:
    page = (await (await client.get("/integritet")).get_data()).decode()
    assert "bara</strong> för mejl om det här evenemanget" in page
    english = (await (await client.get("/integritet?lang=en")).get_data()).decode()
    assert "only</strong> for mail about this event" in english
    register_page = (await (await client.get("/e/hosten-2020/register")).get_data()).decode()
    assert 'href="/integritet"' in register_page


async def test_the_join_link_asks_before_it_replaces_a_staff_session(app) -> None:
    await seed_people(app)
    asa = await reg_by_name(app, "Åsa Öberg")
    moderator = await signed_in(app, "moderator")
    path = f"/e/hosten-2020/join/{asa.join_key}"
    asked = await moderator.get(path)
    html = (await asked.get_data()).decode()
    assert asked.status_code == 200 and "Du är inloggad som Moderator" in html
    assert (await moderator.get("/e/hosten-2020/moderate")).status_code == 200, \
        "the staff session is still there"
    refused = await moderator.post(path, form={"csrf_token": "wrong"})
    assert refused.status_code == 403
    went = await moderator.post(path, form={"csrf_token": await get_csrf(moderator, path)})
    assert went.status_code == 302 and went.headers["Location"].endswith("/live")
    assert (await moderator.get("/e/hosten-2020/moderate")).status_code == 403, \
        "now the participant, as chosen"
    # Two devices: the same link opens a second, independent session.
    phone, laptop = app.quart.test_client(), app.quart.test_client()
    for device in (phone, laptop):
        assert (await device.get(path)).status_code == 302
    assert (await phone.get("/e/hosten-2020/live")).status_code == 200
    assert (await laptop.get("/e/hosten-2020/live")).status_code == 200
