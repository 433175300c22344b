"""Abuse limits on the public forms (issue 19, point 2): failed logins per account and per
client address, registrations per address and event, accessibility reports per address; each
refusal is a 429 with Retry-After and a clear message, and the client address comes from a
proxy header only when one is configured."""

from __future__ import annotations

from typing import Any

import pytest

from server.platform import auth
from server.platform.auth import hash_password
from server.platform.models import Registration, User
from tests.conftest import VALID_REGISTRATION, get_csrf

pytestmark = pytest.mark.integration


async def login(client: Any, username: str, password: str, **headers: str) -> Any:
    token = await get_csrf(client, "/login")
    return await client.post("/login", form={
        "username": username, "password": password, "csrf_token": token}, headers=headers)


async def add_staff(app: Any, username: str) -> None:
    async with app.platform.db.transaction() as db:
        db.add(User(username=username, display_name=username, role="moderator",
                    password_hash=hash_password("rätt-lösenord-1")))


async def test_failed_logins_lock_the_account_for_a_while_even_with_the_right_password(
    app: Any,
) -> None:
    app.platform.settings.login_per_account = 3
    await add_staff(app, "mona")
    client = app.quart.test_client()
    for _ in range(3):
        assert (await login(client, "mona", "fel")).status_code == 401
    refused = await login(client, "Mona", "rätt-lösenord-1")  # names are case-folded
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "För många misslyckade inloggningar" in (await refused.get_data()).decode()
    other = app.quart.test_client()
    await add_staff(app, "olle")
    assert (await login(other, "olle", "rätt-lösenord-1")).status_code == 302, "others log in"


async def test_successful_logins_do_not_count(app: Any) -> None:
    app.platform.settings.login_per_account = 2
    await add_staff(app, "mona")
    for _ in range(4):
        assert (await login(app.quart.test_client(), "mona", "rätt-lösenord-1")).status_code == 302


async def test_one_address_trying_many_accounts_is_stopped(app: Any) -> None:
    app.platform.settings.login_per_address = 4
    client = app.quart.test_client()
    codes = [(await login(client, f"gissning{n}", "fel")).status_code for n in range(6)]
    assert codes == [401] * 4 + [429] * 2


async def test_a_proxy_header_is_believed_only_when_configured(app: Any) -> None:
    app.platform.settings.login_per_address = 2
    client = app.quart.test_client()
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    codes = [(await login(client, f"namn{n}", "fel", **spoof)).status_code for n in range(3)]
    assert codes == [401, 401, 429], "an unconfigured header changes nothing"
    app.platform.settings.trusted_proxy_header = "X-Forwarded-For"
    behind = {"X-Forwarded-For": "198.51.100.7, 203.0.113.20"}
    assert (await login(client, "namn9", "fel", **behind)).status_code == 401, (
        "behind the proxy, the address it saw counts, one budget per client")


async def test_an_unknown_user_name_costs_the_same_argon2_work(app: Any, monkeypatch) -> None:
    checked: list[str] = []
    real = auth.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    await add_staff(app, "mona")
    client = app.quart.test_client()
    assert (await login(client, "finns-inte", "x")).status_code == 401
    assert (await login(client, "mona", "x")).status_code == 401
    assert len(checked) == 2 and all(h.startswith("$argon2") for h in checked), (
        "a hash is checked for an unknown name too")


async def test_registrations_from_one_address_are_limited_per_event(app: Any) -> None:
    app.platform.settings.register_per_address = 3
    answers = []
    for n in range(4):
        client = app.quart.test_client()
        token = await get_csrf(client, "/e/hosten-2020/register")
        form = {**VALID_REGISTRATION, "name": f"Person {n}", "csrf_token": token}
        answers.append(await client.post("/e/hosten-2020/register", form=form))
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    page = (await answers[-1].get_data()).decode()
    assert "Person 3" in page, "the form keeps what they typed"
    assert int(answers[-1].headers["Retry-After"]) > 0
    async with app.platform.db.session() as db:
        from sqlalchemy import func, select

        assert await db.scalar(select(func.count()).select_from(Registration)) == 3


async def test_accessibility_reports_are_limited_per_address(app: Any) -> None:
    app.platform.settings.reports_per_address = 2
    client = app.quart.test_client()
    codes = []
    for n in range(3):
        token = await get_csrf(client, "/tillganglighet")
        sent = await client.post("/tillganglighet", form={
            "description": f"Knappen saknar etikett {n}", "csrf_token": token})
        codes.append(sent.status_code)
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("path", ["/login", "/e/hosten-2020/register", "/tillganglighet",
                                  "/api/events/hosten-2020/socket-token", "/lang/en"])
async def test_a_large_form_is_refused_before_it_is_read(app: Any, path: str) -> None:
    """Issue 19: a 20 MB form of many small fields froze the server while Quart parsed it;
    any body past the route's limit (64 kB for forms and JSON) is a 413 before parsing."""
    client = app.quart.test_client()
    body = "&".join(f"f{n}=x" for n in range(200_000)).encode()  # ~1.7 MB, 200k fields
    answer = await client.post(path, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    assert answer.status_code == 413
    assert (await answer.get_json())["error"]["code"] == "request.too_large"


async def test_an_upload_route_takes_what_it_declares(app: Any) -> None:
    """The archivist's WebVTT upload may be up to 2 MB; the same size elsewhere is refused."""
    client = app.quart.test_client()
    vtt = b"WEBVTT\n\n" + b"00:00.000 --> 00:01.000\nhej\n\n" * 30_000  # ~1 MB
    boundary = "tp-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"captions\"; "
            f"filename=\"a.vtt\"\r\nContent-Type: text/vtt\r\n\r\n").encode() + vtt + \
        f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    upload = await client.post("/archive/recordings/1/captions", data=body, headers=headers)
    assert upload.status_code != 413, "read: refused further on (no archivist here)"
    elsewhere = await client.post("/login", data=body, headers=headers)
    assert elsewhere.status_code == 413
