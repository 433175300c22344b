"""Regional feedback over HTTP on the real PostgreSQL: drafts, submit, deadline, access, exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from server.platform.auth import hash_password
from server.platform.models import Registration, User
from tests.conftest import get_csrf, register

SLUG = "hosten-2020"
BASE = f"/e/{SLUG}/feedback"
COMPLETE = {
    "uppfoljning": "Vi har haft två nätverksträffar om uppföljning = nyckeltal.",
    "sammankomst": "ja",
    "nasta_traffpunkt": "Biblioteksplaner och digital delaktighet.",
    "aterkopplingsform": ["skriftlig", "sammankomst"],
    "betyg_dagen": 4,
    "betyg_tillganglighet": "5",
}


async def participant(app: Any, region: str = "M", name: str = "Åsa Öberg") -> Any:
    client = app.quart.test_client()
    response = await register(client, region=region, name=name)
    assert response.status_code == 302
    return client


async def staff(app: Any, username: str, role: str) -> Any:
    async with app.platform.db.transaction() as db:
        db.add(
            User(
                username=username,
                display_name=username.title(),
                role=role,
                password_hash=hash_password("lösenord-123"),
            )
        )
    client = app.quart.test_client()
    token = await get_csrf(client, "/login")
    response = await client.post(
        "/login", form={"username": username, "password": "lösenord-123", "csrf_token": token}
    )
    assert response.status_code == 302
    return client


async def registration_id(app: Any, name: str) -> int:
    async with app.platform.db.session() as db:
        return int(await db.scalar(select(Registration.id).where(Registration.name == name)))


async def make_facilitator(app: Any, mod: Any, region: str, name: str) -> None:
    reg = await registration_id(app, name)
    token = await get_csrf(mod, f"{BASE}/dashboard")
    response = await mod.post(
        f"{BASE}/facilitator", form={"region": region, "who": f"r:{reg}", "csrf_token": token}
    )
    assert response.status_code == 302


async def post_json(client: Any, path: str, body: dict[str, Any]) -> Any:
    token = await get_csrf(client, "/")
    return await client.post(
        path, json=body, headers={"X-CSRF-Token": token, "Accept": "application/json"}
    )


async def test_member_drafts_facilitator_submits_kb_sees_it_in_every_export(client, app) -> None:
    writer = await participant(app, "M", "Karin Lund")
    facilitator = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")

    page = await writer.get(f"{BASE}/regions/M")
    html = (await page.get_data()).decode()
    assert page.status_code == 200
    assert "Hur har regionen följt upp biblioteksplanerna sedan förra Träffpunkt?" in html
    draft = await post_json(
        writer,
        f"{BASE}/regions/M/draft",
        {"version": 0, "answers": {"uppfoljning": "Första utkast"}},
    )
    assert draft.status_code == 200
    assert (await draft.get_json())["version"] == 1
    refused = await post_json(
        writer, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE}
    )
    assert refused.status_code == 403, "only the facilitator submits"

    sent = await post_json(
        facilitator, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE}
    )
    assert sent.status_code == 200
    assert (await sent.get_json())["status"] == "submitted"

    board = (await (await mod.get(f"{BASE}/dashboard")).get_data()).decode()
    assert 'id="state-M">Inskickad' in board
    assert "Vi har haft två nätverksträffar" in board
    rows = list(
        csv.DictReader(
            io.StringIO(
                (await (await mod.get(f"{BASE}/export.csv")).get_data()).decode("utf-8-sig")
            )
        )
    )
    first = next(r for r in rows if r["question_key"] == "uppfoljning")
    assert first["region_name"] == "Skåne" and first["status"] == "submitted"
    assert first["answer"].startswith("Vi har haft")
    choice = next(r for r in rows if r["question_key"] == "aterkopplingsform")
    assert choice["answer"] == "Regional sammankomst efter webbsändningen; Skriftlig sammanfattning"
    book = load_workbook(io.BytesIO(await (await mod.get(f"{BASE}/export.xlsx")).get_data()))
    cells = [c.value for row in book.active.iter_rows() for c in row]
    assert "Biblioteksplaner och digital delaktighet." in cells
    doc = json.loads(await (await mod.get(f"{BASE}/export.json")).get_data())
    skane = next(r for r in doc["regions"] if r["code"] == "M")
    assert skane["status"] == "submitted" and skane["answers"]["betyg_dagen"] == 4
    assert len(doc["regions"]) == 21


async def test_stale_autosave_gets_a_conflict_and_keeps_the_newer_draft(client, app) -> None:
    a = await participant(app, "M", "Karin Lund")
    b = await participant(app, "M", "Åsa Öberg")
    assert (
        await post_json(
            a, f"{BASE}/regions/M/draft", {"version": 0, "answers": {"uppfoljning": "A"}}
        )
    ).status_code == 200
    assert (
        await post_json(
            b, f"{BASE}/regions/M/draft", {"version": 1, "answers": {"uppfoljning": "B nyare"}}
        )
    ).status_code == 200
    stale = await post_json(
        a, f"{BASE}/regions/M/draft", {"version": 1, "answers": {"uppfoljning": "A gammal"}}
    )
    assert stale.status_code == 409
    error = (await stale.get_json())["error"]
    assert error["code"] == "feedback.conflict"
    assert "nyare version av Åsa Öberg" in error["message"]
    assert error["details"]["current_version"] == 2
    html = (await (await a.get(f"{BASE}/regions/M")).get_data()).decode()
    assert "B nyare" in html and "A gammal" not in html


async def test_double_submit_and_retried_save_neither_duplicate_nor_lose(client, app) -> None:
    fac = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")
    first = await post_json(fac, f"{BASE}/regions/M/submit", {"version": 0, "answers": COMPLETE})
    again = await post_json(fac, f"{BASE}/regions/M/submit", {"version": 0, "answers": COMPLETE})
    assert first.status_code == again.status_code == 200
    assert (await first.get_json())["version"] == (await again.get_json())["version"] == 1
    retry = await post_json(fac, f"{BASE}/regions/M/draft", {"version": 0, "answers": COMPLETE})
    assert retry.status_code == 200, "a retried save of what is stored is not a conflict"
    doc = json.loads(await (await mod.get(f"{BASE}/export.json")).get_data())
    assert [r["code"] for r in doc["regions"] if r["status"] == "submitted"] == ["M"]


async def test_submit_shows_a_message_per_field(client, app) -> None:
    fac = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")
    bad = await post_json(
        fac,
        f"{BASE}/regions/M/submit",
        {"version": 0, "answers": {"uppfoljning": "x", "sammankomst": "kanske", "betyg_dagen": 9}},
    )
    assert bad.status_code == 422
    fields = (await bad.get_json())["error"]["fields"]
    assert fields["sammankomst"] == "Ogiltigt val."
    assert fields["betyg_dagen"] == "Välj ett betyg från 1 till 5."
    assert fields["nasta_traffpunkt"] == "Fältet är obligatoriskt."
    assert "uppfoljning" not in fields
    token = await get_csrf(fac, f"{BASE}/regions/M")
    page = await fac.post(
        f"{BASE}/regions/M",
        form={
            "csrf_token": token,
            "action": "submit",
            "version": "0",
            "a-uppfoljning": "Text kvar",
        },
    )
    html = (await page.get_data()).decode()
    assert page.status_code == 422
    assert 'id="f-nasta_traffpunkt-error">Fältet är obligatoriskt.' in html
    assert "Text kvar" in html, "what was typed is shown again"


async def test_after_the_deadline_the_response_is_locked_but_nothing_is_lost(client, app) -> None:
    fac = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")
    await post_json(
        fac, f"{BASE}/regions/M/draft", {"version": 0, "answers": {"uppfoljning": "Sparat"}}
    )
    token = await get_csrf(mod, f"{BASE}/dashboard")
    await mod.post(f"{BASE}/deadline", form={"csrf_token": token, "action": "now"})
    late = await post_json(fac, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE})
    assert late.status_code == 409
    assert (await late.get_json())["error"]["code"] == "feedback.locked"
    doc = json.loads(await (await mod.get(f"{BASE}/export.json")).get_data())
    skane = next(r for r in doc["regions"] if r["code"] == "M")
    assert skane["answers"] == {"uppfoljning": "Sparat"}, "the stored draft stays"
    assert skane["late_answers"]["answers"]["nasta_traffpunkt"] == COMPLETE["nasta_traffpunkt"]
    html = (await (await fac.get(f"{BASE}/regions/M")).get_data()).decode()
    assert "svaret är låst" in html
    await mod.post(f"{BASE}/deadline", form={"csrf_token": token, "action": "clear"})
    assert (
        await post_json(fac, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE})
    ).status_code == 200


async def test_another_region_can_neither_read_nor_change_a_response(client, app) -> None:
    owner = await participant(app, "M", "Åsa Öberg")
    other = await participant(app, "AB", "Olle Stockholm")
    await post_json(
        owner, f"{BASE}/regions/M/draft", {"version": 0, "answers": {"uppfoljning": "Hemligt"}}
    )
    assert (await other.get(f"{BASE}/regions/M")).status_code == 403
    assert (
        await post_json(
            other, f"{BASE}/regions/M/draft", {"version": 1, "answers": {"uppfoljning": "Ändrat"}}
        )
    ).status_code == 403
    assert (
        await post_json(other, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE})
    ).status_code == 403
    assert (
        await other.get(
            f"{BASE}/regions/M/notes?theme=kris", headers={"Accept": "application/json"}
        )
    ).status_code == 403
    for path in ("dashboard", "export.csv", "export.xlsx", "export.json", "state"):
        assert (await other.get(f"{BASE}/{path}")).status_code == 403, path
    token = await get_csrf(other, f"{BASE}/regions/AB")
    form = await other.post(
        f"{BASE}/regions/M",
        form={"csrf_token": token, "action": "draft", "version": "1", "a-uppfoljning": "Ändrat"},
    )
    assert form.status_code == 403
    html = (await (await owner.get(f"{BASE}/regions/M")).get_data()).decode()
    assert "Hemligt" in html and "Ändrat" not in html


async def test_archivist_reads_and_exports_but_cannot_set_the_deadline(client, app) -> None:
    arch = await staff(app, "arkiv", "archivist")
    assert (await arch.get(f"{BASE}/dashboard")).status_code == 200
    assert (await arch.get(f"{BASE}/export.csv")).status_code == 200
    token = await get_csrf(arch, f"{BASE}/dashboard")
    assert (
        await arch.post(f"{BASE}/deadline", form={"csrf_token": token, "action": "now"})
    ).status_code == 403


async def test_participant_rates_the_day_anonymously_once(client, app) -> None:
    rater = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    token = await get_csrf(rater, f"{BASE}/rate")
    missing = await rater.post(f"{BASE}/rate", form={"csrf_token": token})
    assert missing.status_code == 422
    assert 'id="f-day-error"' in (await missing.get_data()).decode()
    for day in ("2", "5"):
        ok = await rater.post(
            f"{BASE}/rate",
            form={
                "csrf_token": token,
                "day": day,
                "accessibility": "4",
                "comment": "Bra textning",
                "anonymous": "true",
            },
        )
        assert ok.status_code == 200
    doc = json.loads(await (await mod.get(f"{BASE}/export.json")).get_data())
    assert doc["ratings"] == [
        {
            "region_code": None,
            "day": 5,
            "accessibility": 4,
            "comment": "Bra textning",
            "anonymous": True,
        }
    ]


async def test_admin_edits_the_form_in_the_browser(client, app) -> None:
    admin = await staff(app, "admin", "admin")
    page = (await (await admin.get(f"{BASE}/form")).get_data()).decode()
    token = await get_csrf(admin, f"{BASE}/form")
    assert 'name="f7-label"' in page and 'name="f8-label"' in page  # 8 fields + a blank row
    form = {
        "csrf_token": token,
        "version": "1",
        "count": "2",
        "f0-key": "helhet",
        "f0-type": "rating",
        "f0-label": "Helhetsbetyg",
        "f0-required": "1",
        "f0-position": "1",
        "f1-key": "val",
        "f1-type": "single_choice",
        "f1-label": "Ett val",
        "f1-options": "a | Alfa",
        "f1-position": "2",
    }
    bad = await admin.post(f"{BASE}/form", form=form)
    assert bad.status_code == 422
    assert 'id="f1-options-error"' in (await bad.get_data()).decode()
    form["f1-options"] = "a | Alfa | Alpha\nb | Beta"
    assert (await admin.post(f"{BASE}/form", form=form)).status_code == 302
    region = await participant(app, "M", "Åsa Öberg")
    html = (await (await region.get(f"{BASE}/regions/M")).get_data()).decode()
    assert "Helhetsbetyg *" in html and "Beta" in html
    assert "Hur har regionen följt upp" not in html
    mod = await staff(app, "mod", "moderator")
    assert (await mod.get(f"{BASE}/form")).status_code == 403, "admins edit the form"


class RoomNotes:
    """A stand-in for the notes of a breakout room, plugged in through the NotesSource port."""

    async def theme_text(self, event_id: int, region_code: str, theme_key: str) -> str:
        return f"Anteckningar från {region_code} om {theme_key}: kris och beredskap"


async def test_pull_notes_goes_through_the_notes_port(client, app) -> None:
    from server.feedback.service import PORTS, FeedbackPorts, RegistrationMembership

    member = await participant(app, "M", "Åsa Öberg")
    accept = {"Accept": "application/json"}
    empty = await member.get(f"{BASE}/regions/M/notes?theme=kris", headers=accept)
    assert (await empty.get_json()) == {"text": ""}, "no notes until rooms exist"
    app.platform.provide(PORTS, FeedbackPorts(RegistrationMembership(), RoomNotes()), replace=True)
    pulled = await member.get(f"{BASE}/regions/M/notes?theme=kris", headers=accept)
    assert (await pulled.get_json())["text"] == "Anteckningar från M om kris: kris och beredskap"
    unknown = await member.get(f"{BASE}/regions/M/notes?theme=okand", headers=accept)
    assert unknown.status_code == 400


async def test_a_lost_reply_then_a_stale_save_can_be_told_apart_by_the_stored_response(
    client, app
) -> None:
    writer = await participant(app, "M", "Åsa Öberg")
    other = await participant(app, "AB", "Olle Stockholm")
    path = f"{BASE}/regions/M/response"
    empty = await writer.get(path, headers={"Accept": "application/json"})
    assert (await empty.get_json())["version"] == 0 and (await empty.get_json())["answers"] == {}
    sent = {"uppfoljning": "  Första stycket om Malmö ", "aterkopplingsform": ["skriftlig"]}
    lost = await post_json(writer, f"{BASE}/regions/M/draft", {"version": 0, "answers": sent})
    assert lost.status_code == 200  # ... but say the page never heard the reply
    newer = {**sent, "uppfoljning": "Första stycket om Malmö. Och ett till om Lund."}
    retry = await post_json(writer, f"{BASE}/regions/M/draft", {"version": 0, "answers": newer})
    assert retry.status_code == 409
    details = (await retry.get_json())["error"]["details"]
    assert details["updated_by"] == "Åsa Öberg" and details["current_version"] == 1
    assert details["updated_at"], "who and when, for the page to show"

    stored = await (await writer.get(path, headers={"Accept": "application/json"})).get_json()
    assert stored["version"] == 1 and stored["status"] == "draft" and not stored["locked"]
    assert stored["answers"] == {
        "uppfoljning": "Första stycket om Malmö",
        "aterkopplingsform": ["skriftlig"],
    }, "what the page last sent, as stored: the page takes version 1 and saves again"
    again = await post_json(writer, f"{BASE}/regions/M/draft", {"version": 1, "answers": newer})
    assert again.status_code == 200 and (await again.get_json())["version"] == 2
    final = await (await writer.get(path, headers={"Accept": "application/json"})).get_json()
    assert final["answers"]["uppfoljning"].endswith("Och ett till om Lund.")
    assert (await other.get(path, headers={"Accept": "application/json"})).status_code == 403
    arch = await staff(app, "arkiv", "archivist")
    assert (await arch.get(path, headers={"Accept": "application/json"})).status_code == 200


async def test_a_conflict_never_loses_what_was_typed(client, app) -> None:
    a = await participant(app, "M", "Karin Lund")
    b = await participant(app, "M", "Åsa Öberg")
    await post_json(a, f"{BASE}/regions/M/draft", {"version": 0, "answers": {"uppfoljning": "A"}})
    await post_json(b, f"{BASE}/regions/M/draft", {"version": 1, "answers": {"uppfoljning": "B"}})
    token = await get_csrf(a, f"{BASE}/regions/M")
    page = await a.post(
        f"{BASE}/regions/M",
        form={"csrf_token": token, "action": "draft", "version": "1", "a-uppfoljning": "Karins"},
    )
    html = (await page.get_data()).decode()
    assert page.status_code == 409
    assert "nyare version av Åsa Öberg" in html
    assert ">Karins</textarea>" in html, "the stale page's text is shown again, not dropped"
    stored = await (
        await a.get(f"{BASE}/regions/M/response", headers={"Accept": "application/json"})
    ).get_json()
    assert stored["answers"] == {"uppfoljning": "B"}, "nor did it overwrite the newer draft"


def editor_post(fields: list[dict[str, Any]], version: int, token: str) -> dict[str, str]:
    """The form editor's post for these field definitions, in order."""
    form = {"csrf_token": token, "version": str(version), "count": str(len(fields))}
    for i, f in enumerate(fields):
        p = f"f{i}-"
        form |= {p + k: str(f.get(k) or "") for k in ("key", "type", "label", "help", "theme")}
        form[p + "position"] = str(i + 1)
        form[p + "options"] = "\n".join(f"{o['value']} | {o['label']}" for o in f["options"])
        if f.get("required"):
            form[p + "required"] = "1"
    return form


async def test_a_question_with_answers_cannot_change_type(client, app) -> None:
    from server.feedback.service import default_form

    fac = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")
    await post_json(fac, f"{BASE}/regions/M/submit", {"version": 0, "answers": COMPLETE})
    admin = await staff(app, "admin", "admin")
    fields = default_form().model_dump()["fields"]
    rating = next(i for i, f in enumerate(fields) if f["key"] == "betyg_dagen")
    fields[rating]["type"] = "short_text"
    fields[0]["label"] = "Ny formulering av första frågan"
    token = await get_csrf(admin, f"{BASE}/form")
    refused = await admin.post(f"{BASE}/form", form=editor_post(fields, 1, token))
    html = (await refused.get_data()).decode()
    assert refused.status_code == 422
    assert f'id="f{rating}-type-error">Frågan har redan svar och kan inte byta typ.' in html
    assert f'aria-describedby="f{rating}-type-error"' in html
    assert 'value="Ny formulering av första frågan"' in html, "the admin's edits stay"
    long_text = next(i for i, f in enumerate(fields) if f["key"] == "nasta_traffpunkt")
    fields[rating]["type"] = "rating"
    fields[long_text]["type"] = "short_text"  # text to text keeps the answers' shape
    assert (await admin.post(f"{BASE}/form", form=editor_post(fields, 1, token))).status_code == 302


async def test_the_dashboard_skips_answers_stored_under_an_earlier_type(client, app) -> None:
    from server.feedback.models import FeedbackForm

    fac = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    await make_facilitator(app, mod, "M", "Åsa Öberg")
    await post_json(fac, f"{BASE}/regions/M/submit", {"version": 0, "answers": COMPLETE})
    async with app.platform.db.transaction() as db:  # a type changed before the editor refused
        form = await db.scalar(select(FeedbackForm))
        changed = [dict(f) for f in form.fields]
        for f in changed:
            if f["key"] == "uppfoljning":
                f["type"] = "rating"
            if f["key"] == "betyg_dagen":
                f["type"] = "multiple_choice"
                f["options"] = [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]
        form.fields = changed
    board = await mod.get(f"{BASE}/dashboard")
    assert board.status_code == 200
    html = (await board.get_data()).decode()
    assert "Biblioteksplaner och digital delaktighet." in html, "the other answers are shown"
    assert "Vi har haft två nätverksträffar" not in html, "text is no rating: left out"
    for fmt in ("csv", "xlsx", "json"):
        assert (await mod.get(f"{BASE}/export.{fmt}")).status_code == 200, fmt
    rows = list(csv.DictReader(io.StringIO(
        (await (await mod.get(f"{BASE}/export.csv")).get_data()).decode("utf-8-sig"))))
    kept = next(r for r in rows if r["question_key"] == "uppfoljning")
    assert kept["answer"].startswith("Vi har haft"), "the export keeps every stored value"


async def test_a_form_saved_meanwhile_keeps_the_admins_edits_on_the_page(client, app) -> None:
    from server.feedback.service import default_form

    first = await staff(app, "admin", "admin")
    second = await staff(app, "admin2", "admin")
    fields = default_form().model_dump()["fields"]
    token1 = await get_csrf(first, f"{BASE}/form")
    token2 = await get_csrf(second, f"{BASE}/form")
    saved = await first.post(f"{BASE}/form", form=editor_post(fields, 1, token1))
    assert saved.status_code == 302
    fields[0]["label"] = "Andra adminens ändrade fråga om uppföljning"
    stale = await second.post(f"{BASE}/form", form=editor_post(fields, 1, token2))
    html = (await stale.get_data()).decode()
    assert stale.status_code == 409
    assert "Någon annan sparade formuläret medan du redigerade." in html
    assert 'value="Andra adminens ändrade fråga om uppföljning"' in html
    assert 'name="version" value="2"' in html, "saving again replaces the other version"
    again = await second.post(f"{BASE}/form", form=editor_post(fields, 2, token2))
    assert again.status_code == 302


async def test_csv_export_opens_in_excel_and_runs_no_formulas(client, app) -> None:
    writer = await participant(app, "M", "Åsa Öberg")
    mod = await staff(app, "mod", "moderator")
    hostile = {"uppfoljning": "=HYPERLINK(\"http://x\")", "nasta_traffpunkt": "@SUM(1+1)"}
    hostile |= {"nationellt_intresse": "+46 8 123", "aterkoppling_annan": "-2+3"}
    await post_json(writer, f"{BASE}/regions/M/draft", {"version": 0, "answers": hostile})
    body = await (await mod.get(f"{BASE}/export.csv")).get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "a UTF-8 BOM, so Excel shows å ä ö"
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0]["region_name"] == "Skåne"
    answers = {r["question_key"]: r["answer"] for r in rows}
    for key, value in hostile.items():
        assert answers[key] == "'" + value, key
    book = load_workbook(io.BytesIO(await (await mod.get(f"{BASE}/export.xlsx")).get_data()))
    cells = {c.value: c for row in book.active.iter_rows() for c in row}
    for value in hostile.values():  # exactly as written, and typed as text: never a formula
        assert cells[value].data_type == "s", value
    assert not any(c.data_type == "f" for c in cells.values())
