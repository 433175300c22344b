"""Registration, join links and login through HTTP, with every kind of bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.models import AccessibilityReport, Registration
from tests.conftest import VALID_REGISTRATION, get_csrf, register


async def count_registrations(app) -> int:  # type: ignore[no-untyped-def]
    async with app.platform.db.session() as db:
        return int(await db.scalar(select(func.count(Registration.id))) or 0)


async def test_valid_registration_is_stored_and_gives_a_personal_link(app, client) -> None:
    response = await register(client)
    assert response.status_code == 302
    page = await client.get(response.headers["Location"])
    html = (await page.get_data()).decode()
    assert "Tack, du är anmäld!" in html and "Åsa Öberg" in html
    async with app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
    assert (reg.region_code, reg.organisation, reg.email) == ("M", "Malmö stadsbibliotek", "asa@example.se")
    assert f"/e/hosten-2020/join/{reg.join_key}" in html


async def test_national_level_registration_has_no_region(app, client) -> None:
    assert (await register(client, region="national", email="")).status_code == 302
    async with app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
    assert reg.region_code is None and reg.email is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "", "Fältet är obligatoriskt."),
    ("name", "x" * 121, "Högst 120 tecken."),
    ("organisation", "   ", "Fältet är obligatoriskt."),
    ("email", "inte-en-adress", "Ange en giltig e-postadress."),
    ("region", "", "Fältet är obligatoriskt."),
    ("region", "ZZ", "Välj en region i listan."),
    ("attendance", "moon", "Ogiltigt val."),
])
async def test_bad_registration_is_refused_with_the_field_error(app, client, field, value, message) -> None:
    response = await register(client, **{field: value})
    html = (await response.get_data()).decode()
    assert response.status_code == 422
    assert f'id="f-{field}-error">{message}<' in html or (field == "attendance" and message in html)
    assert 'value="Malmö stadsbibliotek"' in html or field == "organisation", "form is shown again"
    assert await count_registrations(app) == 0


async def test_missing_csrf_token_is_refused(app, client) -> None:
    await client.get("/e/hosten-2020/register")
    response = await client.post("/e/hosten-2020/register", form=dict(VALID_REGISTRATION))
    assert response.status_code == 403
    assert "Formuläret har gått ut" in (await response.get_data()).decode()
    assert await count_registrations(app) == 0


async def test_forged_session_cookie_is_not_a_session(app, client) -> None:
    client.set_cookie("127.0.0.1", "tp_session", "eyJwIjoxfQ.forged.cookie", domain="localhost")
    response = await client.post("/api/events/hosten-2020/socket-token", headers={"X-CSRF-Token": "x"})
    assert response.status_code == 403
    live = await client.get("/e/hosten-2020/live")
    assert live.status_code == 302 and live.headers["Location"].endswith("/register")


async def test_join_link_restores_the_session_on_another_device(app, client) -> None:
    await register(client)
    async with app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
    other = app.quart.test_client()
    response = await other.get(f"/e/hosten-2020/join/{reg.join_key}")
    assert response.status_code == 302 and response.headers["Location"] == "/e/hosten-2020/live"
    live = await other.get("/e/hosten-2020/live")
    assert live.status_code == 200
    bad = await app.quart.test_client().get("/e/hosten-2020/join/not-a-key")
    assert bad.status_code == 404


async def test_unknown_event_is_404(client) -> None:
    response = await client.get("/e/finns-inte")
    assert response.status_code == 404
    assert "Evenemanget finns inte." in (await response.get_data()).decode()


async def test_accessibility_report_is_stored(app, client) -> None:
    token = await get_csrf(client, "/tillganglighet")
    response = await client.post("/tillganglighet", form={
        "csrf_token": token, "description": "Fokusmarkeringen syns inte.", "page": "/e/hosten-2020"})
    assert response.status_code == 200
    assert "Din rapport är mottagen" in (await response.get_data()).decode()
    empty = await client.post("/tillganglighet", form={"csrf_token": token, "description": " "})
    assert empty.status_code == 422
    async with app.platform.db.session() as db:
        reports = list(await db.scalars(select(AccessibilityReport)))
    assert [r.description for r in reports] == ["Fokusmarkeringen syns inte."]
