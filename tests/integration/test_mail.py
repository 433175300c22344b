"""E-mail that arrives: the outbox sends through a real SMTP server (aiosmtpd) started by the
test: the confirmation with the join link and a calendar invitation, an outage and recovery,
a restart, a refused recipient, "send me my link again", reminders, updated invitations,
address confirmation and the registration cap."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from server.mail import outbox
from server.mail.models import OutboxMessage
from server.mail.sender import SENDER, MailSender
from server.platform.models import Event, Registration
from tests.conftest import get_csrf, make_settings, register, seed_demo, signed_in
from tests.mail import SmtpServer, calendar_of


def mail_settings(url: str, tmp_path: Path, port: int | None):  # type: ignore[no-untyped-def]
    settings = make_settings(url, tmp_path / "media")
    if port:
        settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", port, "none"
    return settings


@pytest.fixture
async def mail_app(clean_db: str, tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[object]:
    """The app with SMTP configured; its own sender task stopped, so each test drives the
    outbox one pass at a time (`sender.run_once`)."""
    from server.app import create_app

    asgi = create_app(mail_settings(clean_db, tmp_path, smtp.port))
    async with asgi.quart.test_app():  # type: ignore[attr-defined]
        await asgi.platform.need(SENDER).stop()  # type: ignore[attr-defined]
        await seed_demo(asgi.platform)  # type: ignore[attr-defined]
        yield asgi


def sender_of(app) -> MailSender:  # type: ignore[no-untyped-def]
    return app.platform.need(SENDER)  # type: ignore[no-any-return]


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.findall(r"http://127\.0\.0\.1/e/hosten-2020/join/[\w-]+", body.get_content())
    assert found, "the mail carries a join link"
    return found[0]


async def outbox_rows(app) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with app.platform.db.session() as db:
        return list(await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_registration_mails_the_join_link_and_a_valid_invitation(mail_app, smtp) -> None:
    client = mail_app.quart.test_client()
    assert (await register(client, email="asa@example.se")).status_code == 302
    page = (await (await client.get("/e/hosten-2020/registered")).get_data()).decode()
    assert "kalenderinbjudan till din e-postadress" in page
    assert await sender_of(mail_app).run_once() == 1
    [message] = smtp.inbox.to("asa@example.se")
    assert message["Subject"] == "Du är anmäld: Träffpunkt biblioteksplaner hösten 2020"
    assert "Träffpunkt" in str(message["From"])
    async with mail_app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
        event = await db.scalar(select(Event))
    link = link_in(message)
    assert link.endswith(reg.join_key)
    [vevent] = calendar_of(message).walk("VEVENT")
    assert vevent.decoded("dtstart") == event.starts_at
    assert int(vevent.get("sequence")) == 0
    assert str(vevent.get("url")) == link
    assert "asa@example.se" in str(vevent.get("attendee"))
    # The link in the mail opens the live page on another device (a fresh browser).
    other = mail_app.quart.test_client()
    opened = await other.get(link.removeprefix("http://127.0.0.1"))
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/live")
    assert (await other.get("/e/hosten-2020/live")).status_code == 200
    [row] = await outbox_rows(mail_app)
    assert (row.state, row.attempts) == ("sent", 1)


async def test_smtp_outage_loses_nothing_and_sends_once_it_is_back(mail_app, smtp) -> None:
    smtp.stop()
    client = mail_app.quart.test_client()
    await register(client, email="asa@example.se")
    sender = sender_of(mail_app)
    now = datetime.now(UTC)
    assert await sender.run_once(now) == 0
    [row] = await outbox_rows(mail_app)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error and row.next_attempt_at > now + timedelta(seconds=20)
    smtp.start()
    assert await sender.run_once(now + timedelta(seconds=1)) == 0, "not due before its backoff"
    assert await sender.run_once(now + timedelta(minutes=1)) == 1
    assert len(smtp.inbox.to("asa@example.se")) == 1
    assert await sender.run_once(now + timedelta(hours=2)) == 0, "sent once, never again"
    assert len(smtp.inbox.messages) == 1


async def test_mail_queued_before_a_restart_is_sent_by_the_next_process(
        clean_db, tmp_path, smtp) -> None:
    from server.app import create_app

    first = create_app(mail_settings(clean_db, tmp_path, None))  # no SMTP: it only queues
    async with first.quart.test_app():  # type: ignore[attr-defined]
        await seed_demo(first.platform)  # type: ignore[attr-defined]
        await register(first.quart.test_client(), email="asa@example.se")  # type: ignore[attr-defined]
    assert smtp.inbox.messages == []
    second = create_app(mail_settings(clean_db, tmp_path, smtp.port))
    async with second.quart.test_app():  # type: ignore[attr-defined]
        for _ in range(200):  # its own sender task finds the queued mail at start
            if smtp.inbox.messages:
                break
            await asyncio.sleep(0.05)
    assert len(smtp.inbox.to("asa@example.se")) == 1


async def test_two_nodes_sending_at_once_send_each_mail_once(mail_app, smtp) -> None:
    client = mail_app.quart.test_client()
    for n in range(6):
        await register(client, email=f"person{n}@example.se", name=f"Person {n}")
    other = MailSender(mail_app.platform.db, mail_app.platform.settings)
    sent = await asyncio.gather(sender_of(mail_app).run_once(), other.run_once())
    assert sum(sent) == 6
    assert sorted(a for e in smtp.inbox.envelopes for a in e) == sorted(
        f"person{n}@example.se" for n in range(6))


async def test_a_refused_recipient_fails_for_good_and_an_admin_can_retry(mail_app, smtp) -> None:
    smtp.inbox.refuse.add("gone@example.se")
    client = mail_app.quart.test_client()
    await register(client, email="gone@example.se")
    await register(mail_app.quart.test_client(), email="here@example.se", name="Här")
    assert await sender_of(mail_app).run_once() == 1
    rows = {r.to_address: r for r in await outbox_rows(mail_app)}
    assert rows["gone@example.se"].state == "failed"
    assert "550" in rows["gone@example.se"].last_error
    assert rows["here@example.se"].state == "sent"
    admin = await signed_in(mail_app, 'admin')
    page = (await (await admin.get("/admin/mail?state=failed")).get_data()).decode()
    assert "gone@example.se" in page and "550" in page and "here@example.se" not in page
    token = await get_csrf(admin, "/admin/mail")
    retried = await admin.post(f"/admin/mail/{rows['gone@example.se'].id}/retry",
                               form={"csrf_token": token})
    assert retried.status_code == 302
    smtp.inbox.refuse.clear()
    assert await sender_of(mail_app).run_once() == 1
    assert len(smtp.inbox.to("gone@example.se")) == 1


async def test_send_my_link_again_never_tells_whether_an_address_is_registered(
        mail_app, smtp) -> None:
    await register(mail_app.quart.test_client(), email="asa@example.se")
    await sender_of(mail_app).run_once()
    smtp.inbox.messages.clear()
    answers = []
    for address in ("ASA@example.se", "nobody@example.se"):
        client = mail_app.quart.test_client()
        token = await get_csrf(client, "/e/hosten-2020/link")
        response = await client.post("/e/hosten-2020/link",
                                     form={"email": address, "csrf_token": token})
        html = (await response.get_data()).decode()
        html = re.sub(r'(content|value)="[\w-]{30,}"', "", html.replace(address, ""))
        answers.append((response.status_code, html))
    assert answers[0] == answers[1], "the same answer for a registered and an unknown address"
    assert answers[0][0] == 200 and "Om adressen är anmäld" in answers[0][1]
    assert await sender_of(mail_app).run_once() == 1
    [message] = smtp.inbox.messages
    assert message["To"].addresses[0].addr_spec == "asa@example.se"
    assert message["Subject"].startswith("Din länk till")
    async with mail_app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
    assert link_in(message).endswith(reg.join_key)
    kept = [r.to_address for r in await outbox_rows(mail_app)]
    assert "nobody@example.se" not in kept, "an unknown address typed by anyone is not kept"


async def test_link_requests_are_limited_per_address_and_per_mailbox(mail_app, smtp) -> None:
    await register(mail_app.quart.test_client(), email="asa@example.se")
    client = mail_app.quart.test_client()
    statuses = []
    for _ in range(12):
        token = await get_csrf(client, "/e/hosten-2020/link")
        response = await client.post("/e/hosten-2020/link",
                                     form={"email": "asa@example.se", "csrf_token": token})
        statuses.append(response.status_code)
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    await sender_of(mail_app).run_once()
    assert len([m for m in smtp.inbox.messages if "länk" in m["Subject"]]) == 3, \
        "no more than three link mails an hour reach one mailbox"
    bad = await client.post("/e/hosten-2020/link", form={
        "email": "a@b.se, victim@example.se", "csrf_token": await get_csrf(client, "/")})
    assert bad.status_code in (422, 429)


async def test_a_new_time_sends_an_updated_invitation(mail_app, smtp) -> None:
    await register(mail_app.quart.test_client(), email="asa@example.se")
    await register(mail_app.quart.test_client(), email="", name="Utan adress")
    await sender_of(mail_app).run_once()
    new_start = datetime(2027, 3, 18, 9, 0, tzinfo=UTC)
    async with mail_app.platform.db.transaction() as db:
        event = await db.scalar(select(Event))
        event.starts_at, event.ends_at = new_start, new_start + timedelta(hours=5)
        assert await outbox.schedule_changed(db, mail_app.platform.settings, event) == 1
    await sender_of(mail_app).run_once()
    update_mail = [m for m in smtp.inbox.to("asa@example.se") if "Ändrad" in m["Subject"]]
    assert len(update_mail) == 1
    [vevent] = calendar_of(update_mail[0]).walk("VEVENT")
    first = calendar_of(smtp.inbox.to("asa@example.se")[0]).walk("VEVENT")[0]
    assert str(vevent.get("uid")) == str(first.get("uid")), "the same entry, replaced"
    assert int(vevent.get("sequence")) == 1
    assert vevent.decoded("dtstart") == new_start


async def test_a_reminder_goes_once_before_the_start(mail_app, smtp) -> None:
    await register(mail_app.quart.test_client(), email="asa@example.se")
    now = datetime.now(UTC)
    starts = now + timedelta(days=2)
    async with mail_app.platform.db.transaction() as db:
        await db.execute(update(Event).values(starts_at=starts, ends_at=None))
        await db.execute(update(Registration).values(created_at=now - timedelta(days=5)))
    sender = sender_of(mail_app)
    await sender.run_once(now)
    assert [m["Subject"] for m in smtp.inbox.messages] == [
        "Du är anmäld: Träffpunkt biblioteksplaner hösten 2020"]
    await sender.run_once(starts - timedelta(hours=10))
    await sender.run_once(starts - timedelta(hours=9))
    reminders = [m for m in smtp.inbox.messages if m["Subject"].startswith("Påminnelse")]
    assert len(reminders) == 1
    assert "börjar" in reminders[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_english_registrants_get_english_mail(mail_app, smtp) -> None:
    client = mail_app.quart.test_client()
    await client.get("/lang/en")
    await register(client, email="anna@example.se")
    await sender_of(mail_app).run_once()
    [message] = smtp.inbox.messages
    assert message["Subject"].startswith("You are registered")
    assert "Your personal link" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_with_address_confirmation_the_registration_counts_once_the_link_is_opened(
        mail_app, smtp) -> None:
    async with mail_app.platform.db.transaction() as db:
        await db.execute(update(Event).values(confirm_email=True, registration_cap=1))
    client = mail_app.quart.test_client()
    no_address = await register(client, email="")
    assert no_address.status_code == 422
    assert "anmälan bekräftas med ett mejl" in (await no_address.get_data()).decode()
    response = await register(client, email="asa@example.se")
    html = (await response.get_data()).decode()
    assert response.status_code == 200 and "Bekräfta din e-postadress" in html
    assert (await client.get("/e/hosten-2020/live")).status_code == 302, "not signed in yet"
    async with mail_app.platform.db.session() as db:
        reg = await db.scalar(select(Registration))
        assert reg.confirmed_at is None
    await sender_of(mail_app).run_once()
    [message] = smtp.inbox.messages
    assert "bekräfta din e-postadress" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    opened = await client.get(link_in(message).removeprefix("http://127.0.0.1"))
    assert opened.headers["Location"].endswith("/live")
    async with mail_app.platform.db.session() as db:
        assert (await db.scalar(select(Registration))).confirmed_at is not None
    # The cap of 1 is reached: the next person's registration is kept unconfirmed, and their
    # link says the event is full.
    late = await register(mail_app.quart.test_client(), email="b@example.se", name="B")
    assert late.status_code == 200
    await sender_of(mail_app).run_once()
    [late_mail] = smtp.inbox.to("b@example.se")
    refused = await mail_app.quart.test_client().get(
        link_in(late_mail).removeprefix("http://127.0.0.1"))
    assert refused.status_code == 409
    assert "Evenemanget är fullt" in (await refused.get_data()).decode()
    async with mail_app.platform.db.session() as db:
        counted = await db.scalar(select(func.count(Registration.id)).where(
            Registration.confirmed_at.is_not(None)))
    assert counted == 1


async def test_registration_closes_at_its_deadline_and_its_cap(mail_app, smtp) -> None:
    async with mail_app.platform.db.transaction() as db:
        await db.execute(update(Event).values(registration_cap=1))
    assert (await register(mail_app.quart.test_client())).status_code == 302
    full = await register(mail_app.quart.test_client(), name="Två")
    assert full.status_code == 409
    assert "Evenemanget är fullt" in (await full.get_data()).decode()
    async with mail_app.platform.db.transaction() as db:
        await db.execute(update(Event).values(
            registration_cap=None,
            registration_closes_at=datetime.now(UTC) - timedelta(minutes=1)))
    closed = await register(mail_app.quart.test_client(), name="Tre")
    assert closed.status_code == 409 and "Anmälan är stängd" in (await closed.get_data()).decode()


async def test_without_smtp_admins_read_the_outbox_in_the_browser(app, client) -> None:
    await register(client, email="asa@example.se")
    assert (await client.get("/admin/mail")).status_code in (401, 403)
    admin = await signed_in(app, 'admin')
    page = (await (await admin.get("/admin/mail")).get_data()).decode()
    assert "Ingen e-postserver är inställd" in page
    assert "asa@example.se" in page and "Du är anmäld" in page and "/join/" in page
