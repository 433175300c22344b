"""Staff from the browser (issue 23 point 2): invitations by mail with a role, single-use and
expiring links, password resets that never tell whether a user exists, removal that ends every
session; through HTTP on PostgreSQL, with the mail read off a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from server.mail.sender import SENDER
from server.platform.models import User, utcnow
from server.staff.models import StaffToken
from tests.conftest import get_csrf, signed_in
from tests.mail import plain_text


async def post(client, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return await client.post(path, form={**form, "csrf_token": await get_csrf(client, path)})


def configure_smtp(app, smtp) -> None:  # type: ignore[no-untyped-def]
    settings = app.platform.settings
    settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", smtp.port, "none"


async def delivered(app, smtp, to: str, subject: str):  # type: ignore[no-untyped-def]
    await app.platform.need(SENDER).run_once()
    found = [m for m in smtp.inbox.to(to) if m["Subject"] == subject]
    assert found, [m["Subject"] for m in smtp.inbox.messages]
    return found[-1]


def link(message, kind: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(rf"http://127\.0\.0\.1(/staff/{kind}/[\w-]+)", plain_text(message))
    assert found, plain_text(message)
    return found.group(1)


async def test_an_invited_moderator_sets_a_password_once_and_logs_in(app, smtp) -> None:
    configure_smtp(app, smtp)
    admin = await signed_in(app, "admin")
    moderator = await signed_in(app, "moderator")
    assert (await moderator.get("/admin/staff")).status_code == 403
    bad = await post(admin, "/admin/staff/invite", {"email": "x, y@kb.se", "display_name": "",
                                                     "role": "superuser"})
    html = (await bad.get_data()).decode()
    assert bad.status_code == 422 and 'id="f-email-error">Ange en giltig e-postadress.' in html
    assert 'id="f-display_name-error">Fältet är obligatoriskt.' in html
    sent = await post(admin, "/admin/staff/invite", {
        "email": "Lotta.B@kb.se", "display_name": "Lotta Berg", "role": "moderator"})
    assert sent.status_code == 302
    page = (await (await admin.get(sent.headers["Location"])).get_data()).decode()
    assert "En inbjudan är skickad till lotta.b@kb.se" in page and "Lotta Berg" in page
    message = await delivered(app, smtp, "lotta.b@kb.se", "Inbjudan till Träffpunkt")
    assert "Moderator" in plain_text(message)
    path = link(message, "invitation")
    newcomer = app.quart.test_client()
    assert "Välkommen som personal" in (await (await newcomer.get(path)).get_data()).decode()
    short = await post(newcomer, path, {"username": "lotta", "password": "kort",
                                        "repeat": "kort"})
    assert 'id="f-password-error">Minst 12 tecken.' in (await short.get_data()).decode()
    differ = await post(newcomer, path, {"username": "lotta", "password": "ett långt lösenord",
                                         "repeat": "ett annat lösenord"})
    assert 'id="f-repeat-error">Lösenorden är inte lika.' in (await differ.get_data()).decode()
    taken = await post(newcomer, path, {"username": "admin", "password": "ett långt lösenord",
                                        "repeat": "ett långt lösenord"})
    assert taken.status_code == 422 and "upptaget" in (await taken.get_data()).decode()
    done = await post(newcomer, path, {"username": "lotta", "password": "ett långt lösenord",
                                       "repeat": "ett långt lösenord"})
    assert done.status_code == 302
    assert (await newcomer.get("/e/hosten-2020/moderate")).status_code == 200, "signed in"
    again = await app.quart.test_client().get(path)
    assert again.status_code == 404, "single use"
    fresh = app.quart.test_client()
    login = await post(fresh, "/login", {"username": "lotta", "password": "ett långt lösenord"})
    assert login.status_code == 302
    dup = await post(admin, "/admin/staff/invite", {
        "email": "lotta.b@kb.se", "display_name": "Igen", "role": "speaker"})
    assert dup.status_code == 422 and "finns redan personal" in (await dup.get_data()).decode()


async def test_an_invitation_expires(app, smtp) -> None:
    configure_smtp(app, smtp)
    admin = await signed_in(app, "admin")
    await post(admin, "/admin/staff/invite", {"email": "sen@kb.se", "display_name": "Sen",
                                              "role": "captioner"})
    path = link(await delivered(app, smtp, "sen@kb.se", "Inbjudan till Träffpunkt"),
                "invitation")
    async with app.platform.db.transaction() as db:
        await db.execute(update(StaffToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await app.quart.test_client().get(path)
    assert response.status_code == 404
    assert "ogiltig, redan använd eller för gammal" in (await response.get_data()).decode()


async def test_forgot_password_tells_nothing_and_a_reset_ends_every_session(app, smtp) -> None:
    configure_smtp(app, smtp)
    moderator = await signed_in(app, "moderator")
    async with app.platform.db.transaction() as db:
        await db.execute(update(User).where(User.username == "moderator")
                         .values(email="mod@kb.se"))
    answers = []
    for who in ("moderator", "ingen-sadan"):
        response = await post(app.quart.test_client(), "/login/forgot", {"who": who})
        html = re.sub(r'(content|value)="[\w-]{30,}"', "", (await response.get_data()).decode())
        answers.append((response.status_code, html))
    assert answers[0] == answers[1] and "Om det finns personal" in answers[0][1]
    message = await delivered(app, smtp, "mod@kb.se", "Nytt lösenord till Träffpunkt")
    assert len(smtp.inbox.messages) == 1, "nothing for a user who does not exist"
    path = link(message, "reset")
    visitor = app.quart.test_client()
    done = await post(visitor, path, {"password": "ett nytt långt lösenord",
                                      "repeat": "ett nytt långt lösenord"})
    assert done.status_code == 302 and "reset=1" in done.headers["Location"]
    assert (await moderator.get("/e/hosten-2020/moderate")).status_code == 401, \
        "the old session ended"
    assert (await app.quart.test_client().get(path)).status_code == 404, "single use"
    old = await post(app.quart.test_client(), "/login",
                     {"username": "moderator", "password": "moderator-password"})
    assert old.status_code == 401
    new = await post(app.quart.test_client(), "/login",
                     {"username": "moderator", "password": "ett nytt långt lösenord"})
    assert new.status_code == 302


async def test_removing_staff_ends_their_sessions(app) -> None:
    admin = await signed_in(app, "admin")
    moderator = await signed_in(app, "moderator")
    async with app.platform.db.session() as db:
        mod_id = await db.scalar(select(User.id).where(User.username == "moderator"))
        admin_id = await db.scalar(select(User.id).where(User.username == "admin"))
    assert (await moderator.get("/e/hosten-2020/moderate")).status_code == 200
    self_removal = await post(admin, f"/admin/staff/{admin_id}/remove", {})
    assert self_removal.status_code == 409
    gone = await post(admin, f"/admin/staff/{mod_id}/remove", {})
    assert gone.status_code == 302
    assert (await moderator.get("/e/hosten-2020/moderate")).status_code == 401
    async with app.platform.db.session() as db:
        assert await db.get(User, mod_id) is None
    assert (await post(moderator, f"/admin/staff/{admin_id}/remove", {})).status_code in (
        401, 403)
