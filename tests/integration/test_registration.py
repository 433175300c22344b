"""Registration, join links and login through HTTP, with every kind of bad input."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer
from quart.sessions import SecureCookieSessionInterface
from sqlalchemy import func, select

from server.platform.auth import hash_password
from server.platform.models import AccessibilityReport, Registration, User
from tests.conftest import SECRET, VALID_REGISTRATION, get_csrf, register


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
    assert (reg.region_code, reg.organisation, reg.email) == (
        "M", "Malmö stadsbibliotek", "asa@example.se")
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
    ("organisation", "o" * 201, "Högst 200 tecken."),
    ("municipality", "m" * 121, "Högst 120 tecken."),
    ("job_role", "r" * 121, "Högst 120 tecken."),
    ("email", "inte-en-adress", "Ange en giltig e-postadress."),
    ("region", "", "Fältet är obligatoriskt."),
    ("region", "ZZ", "Välj en region i listan."),
    ("attendance", "moon", "Ogiltigt val."),
])
async def test_bad_registration_is_refused_with_the_field_error(
    app, client, field, value, message
) -> None:
    response = await register(client, **{field: value})
    html = (await response.get_data()).decode()
    assert response.status_code == 422
    assert f'id="f-{field}-error">{message}<' in html or (field == "attendance" and message in html)
    assert 'value="Malmö stadsbibliotek"' in html or field == "organisation", "form is shown again"
    assert await count_registrations(app) == 0


@pytest.mark.parametrize("token", [None, "", "not-the-session-token"])
async def test_missing_or_wrong_csrf_token_shows_the_form_again(app, client, token) -> None:
    await client.get("/e/hosten-2020/register")
    form = {**VALID_REGISTRATION, "organisation": "Kiruna stadsbibliotek"}
    if token is not None:
        form["csrf_token"] = token
    response = await client.post("/e/hosten-2020/register", form=form)
    html = (await response.get_data()).decode()
    assert response.status_code == 403
    assert 'role="alert"' in html and "Formuläret har gått ut och anmälan sparades inte." in html
    assert '<form method="post"' in html, "the registration form is shown again"
    assert 'value="Kiruna stadsbibliotek"' in html and 'value="Åsa Öberg"' in html
    assert '<option value="M" selected>' in html, "the chosen region is kept"
    assert await count_registrations(app) == 0
    # The form shown again carries a valid token: sending it once more registers.
    again = await client.post("/e/hosten-2020/register", form={
        **form, "csrf_token": _csrf_field(html)})
    assert again.status_code == 302
    assert await count_registrations(app) == 1


def _csrf_field(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form carries no CSRF field"
    return match.group(1)


def sign_session(payload: dict[str, object], secret: str) -> str:
    """A `tp_session` cookie value made the way Quart's session interface makes it."""
    iface = SecureCookieSessionInterface()
    return URLSafeTimedSerializer(
        secret, salt=iface.salt, serializer=iface.serializer,
        signer_kwargs={"key_derivation": iface.key_derivation,
                       "digest_method": iface.digest_method},
    ).dumps(payload)


async def test_forged_session_cookie_is_not_a_session(app, client) -> None:
    assert (await register(client)).status_code == 302
    async with app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
    # The forged cookie names a live server-side session of a real registration and carries
    # its own CSRF token, so only the signature stands between it and a participant's session.
    from server.platform import sessions

    async with app.platform.db.transaction() as db:
        token = await sessions.start(db, app.platform.settings, registration_id=reg.id)
    payload = {"s": token, "csrf": "forged-csrf-token"}

    async def as_cookie(value: str) -> dict[str, int | str]:
        other = app.quart.test_client(use_cookies=False)
        headers = {"Cookie": f"tp_session={value}"}
        live = await other.get("/e/hosten-2020/live", headers=headers)
        token = await other.post("/api/events/hosten-2020/socket-token",
                                 headers={**headers, "X-CSRF-Token": "forged-csrf-token"})
        posted = await other.post("/e/hosten-2020/register", headers=headers, form={
            **VALID_REGISTRATION, "name": "Falsk Person", "csrf_token": "forged-csrf-token"})
        return {"live": live.status_code, "live_to": live.headers.get("Location", ""),
                "token": token.status_code, "register": posted.status_code}

    forged = await as_cookie(sign_session(payload, "another-secret-than-the-servers"))
    assert forged == {"live": 302, "live_to": "/e/hosten-2020/register", "token": 403,
                      "register": 403}
    assert await count_registrations(app) == 1, "the forged session stored nothing"
    # Positive control: the same payload signed with the server's key is a session, so the
    # cookie really reaches the server and the refusal above is the signature's doing.
    made_up = await as_cookie(sign_session({**payload, "s": "x" * 43}, SECRET))
    assert (made_up["live"], made_up["live_to"], made_up["token"]) == (
        302, "/e/hosten-2020/register", 401), "signed, but naming no session the server keeps"
    genuine = await as_cookie(sign_session(payload, SECRET))
    assert genuine == {"live": 200, "live_to": "", "token": 200, "register": 302}
    assert await count_registrations(app) == 3, "the made-up one registered as anyone may"


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
        "csrf_token": token, "description": "Fokusmarkeringen syns inte.",
        "page": "/e/hosten-2020"})
    assert response.status_code == 200
    assert "Din rapport är mottagen" in (await response.get_data()).decode()
    empty = await client.post("/tillganglighet", form={"csrf_token": token, "description": " "})
    assert empty.status_code == 422
    async with app.platform.db.session() as db:
        reports = list(await db.scalars(select(AccessibilityReport)))
    assert [r.description for r in reports] == ["Fokusmarkeringen syns inte."]


async def test_accessibility_statement_has_what_diggs_model_requires(client) -> None:
    sv = (await (await client.get("/tillganglighet")).get_data()).decode()
    assert 'href="mailto:kungl.biblioteket@kb.se"' in sv
    assert "så får du det i ett tillgängligt format" in sv
    assert '<h2 id="tillsyn">Tillsyn</h2>' in sv
    tillsyn = sv.split('id="tillsyn"', 1)[1].split("<h2", 1)[0]
    assert 'href="https://www.digg.se/tdosanmalan"' in tillsyn
    assert "delvis förenlig med lagen om tillgänglighet till digital offentlig service" in sv
    assert "Bristande förenlighet med lagkraven" in sv and "WCAG 1.2.5" in sv
    assert ('Redogörelsen upprättades den <time datetime="2026-11-22">2026-11-22</time> och '
            'granskades senast den <time datetime="2026-12-04">2026-12-04</time>.') in sv
    tested = sv.split("Hur vi testat tjänsten", 1)[1]
    assert "320, 360, 390 och 414 CSS-pixlars bredd" in tested and "textavstånd" in tested
    en = (await (await client.get("/tillganglighet?lang=en")).get_data()).decode()
    assert 'href="mailto:kungl.biblioteket@kb.se"' in en and "accessible format" in en
    assert 'href="https://www.digg.se/tdosanmalan"' in en
    assert "partially compliant" in en and "last reviewed on" in en
    assert "reflow at 320, 360, 390 and 414 CSS pixels wide" in en


async def test_staff_see_reported_accessibility_problems_escaped(app, client) -> None:
    token = await get_csrf(client, "/tillganglighet")
    hostile = '<script>alert("x")</script> Knappen saknar namn & fokus'
    sent = await client.post("/tillganglighet", form={
        "csrf_token": token, "description": hostile, "page": "/e/hosten-2020/<b>live</b>",
        "contact": "kim@example.se"})
    assert sent.status_code == 200
    assert (await client.get("/tillganglighet/rapporter")).status_code == 401
    participant = app.quart.test_client()
    await register(participant)
    refused = await participant.get("/tillganglighet/rapporter")
    assert refused.status_code == 403
    assert "Knappen saknar namn" not in (await refused.get_data()).decode()
    async with app.platform.db.transaction() as db:
        db.add(User(username="admin", display_name="Admin KB", role="admin",
                    password_hash=hash_password("admin-lösenord-1")))
    admin = app.quart.test_client()
    token = await get_csrf(admin, "/login")
    login = await admin.post("/login", form={
        "csrf_token": token, "username": "admin", "password": "admin-lösenord-1"})
    assert login.status_code == 302
    statement = (await (await admin.get("/tillganglighet")).get_data()).decode()
    assert 'href="/tillganglighet/rapporter"' in statement
    page = await admin.get("/tillganglighet/rapporter")
    html = (await page.get_data()).decode()
    assert page.status_code == 200
    assert "Antal rapporter: 1." in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Knappen saknar namn &amp; fokus" in html
    assert "<script>alert" not in html and "<b>live</b>" not in html
    assert "/e/hosten-2020/&lt;b&gt;live&lt;/b&gt;" in html and "kim@example.se" in html
