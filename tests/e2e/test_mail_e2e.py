"""Mail in the browser, keyboard only: a participant registers, the confirmation with the join
link and a valid calendar invitation arrives at the test's SMTP server, the link opens the live
page on another device; "send me my link again"; organisers find, correct and export the
registration; the participant sees and deletes their own. axe on every page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import MODERATOR, LiveServer, password_hash, seed, server_env
from tests.e2e.conftest import axe_check, login, new_page
from tests.mail import SmtpServer, calendar_of, plain_text

pytestmark = pytest.mark.slow
ADMIN = ("admin", "admin-lösenord-1")


@pytest.fixture
def mail_server(clean_db: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[LiveServer]:
    from server.platform.db import Database
    from server.platform.models import User

    async def prepare() -> None:
        await seed(clean_db)
        db = Database(clean_db)
        async with db.transaction() as session:
            session.add(User(username=ADMIN[0], display_name="Administratör", role="admin",
                             password_hash=password_hash(ADMIN[1])))
        await db.close()

    env = {**server_env(clean_db, tmp_path / "media"), "SMTP_HOST": "127.0.0.1",
           "SMTP_PORT": str(smtp.port), "SMTP_SECURITY": "none"}
    server = LiveServer(env)
    server.prepare = prepare  # type: ignore[attr-defined]  # seeded on the test's own loop
    yield server
    server.stop()


async def started(server: LiveServer) -> LiveServer:
    await server.prepare()  # type: ignore[attr-defined]
    return server.start()


async def mail_to(smtp: SmtpServer, address: str, subject_start: str, timeout: float = 20):  # type: ignore[no-untyped-def]
    """The first mail to `address` whose subject starts so, once it has arrived."""
    for _ in range(int(timeout * 10)):
        found = [m for m in smtp.inbox.to(address) if m["Subject"].startswith(subject_start)]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail '{subject_start}' to {address}: "
                         f"{[m['Subject'] for m in smtp.inbox.messages]}")


async def tab_to(page: Page, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible name starts with `name`."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => { const e = document.activeElement; const l = e && e.labels && e.labels[0];"
            " return ((l && l.textContent) || (e && (e.getAttribute('aria-label') ||"
            " e.textContent)) || '').trim(); }")
        if focused.startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def test_register_by_keyboard_and_the_mail_carries_link_and_invitation(
        browser, mail_server, smtp) -> None:
    server = await started(mail_server)
    page = await new_page(browser, server.url)
    await page.goto("/e/hosten-2020/register")
    await axe_check(page)
    for label, value in (("Namn", "Sonja Viklund"), ("E-post", "sonja@example.se"),
                         ("Organisation", "Mora bibliotek"), ("Kommun", "Mora")):
        await tab_to(page, label)
        await page.keyboard.type(value)
    await tab_to(page, "Region")
    await page.keyboard.type("Dalarna")  # a select picks the option typed
    await tab_to(page, "Anmäl mig")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")
    await expect(page.locator("#mail-note")).to_contain_text("kalenderinbjudan")
    await axe_check(page)

    message = await mail_to(smtp, "sonja@example.se", "Du är anmäld")
    text = plain_text(message)
    link = re.search(r"http://127\.0\.0\.1:\d+/e/hosten-2020/join/[\w-]+", text)
    assert link, text
    [vevent] = calendar_of(message).walk("VEVENT")
    assert str(vevent.get("url")) == link.group(0)
    assert str(vevent.get("summary")) == "Träffpunkt biblioteksplaner hösten 2020"

    phone = await new_page(browser, server.url)  # the link on a second device
    await phone.goto(link.group(0))
    await expect(phone.locator("#connection-state")).to_have_text("Ansluten")

    # "Send me my link again", by keyboard, from the event page of a fresh browser.
    lost = await new_page(browser, server.url)
    await lost.goto("/e/hosten-2020")
    await tab_to(lost, "Tappat bort din länk?")
    await lost.keyboard.press("Enter")
    await expect(lost.get_by_role("heading", level=1)).to_have_text("Skicka min länk igen")
    await axe_check(lost)
    await tab_to(lost, "E-post")
    await lost.keyboard.type("sonja@example.se")
    await lost.keyboard.press("Enter")
    await expect(lost.locator("#link-sent")).to_contain_text("Om adressen är anmäld")
    await axe_check(lost)
    again = await mail_to(smtp, "sonja@example.se", "Din länk till")
    assert link.group(0) in plain_text(again)

    # Her own registration: seen and deleted from the link's session.
    await phone.goto("/e/hosten-2020/me")
    await expect(phone.locator("#my-registration")).to_contain_text("Mora bibliotek")
    await axe_check(phone)
    await phone.get_by_role("link", name="Ta bort min anmälan").press("Enter")
    await axe_check(phone)
    await phone.get_by_role("button", name="Ja, ta bort").press("Enter")
    await expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Träffpunkt biblioteksplaner hösten 2020")
    response = await lost.goto(link.group(0))
    assert response is not None and response.status == 404, "the link is gone with her"


async def test_organisers_find_correct_and_export_registrations(
        browser, mail_server, smtp) -> None:
    server = await started(mail_server)
    for name, region in (("Ada Berg", "Dalarna"), ("Bertil Ceder", "Skåne")):
        page = await new_page(browser, server.url)
        await page.goto("/e/hosten-2020/register")
        await page.get_by_label("Namn *").fill(name)
        await page.get_by_label("E-post", exact=True).fill(f"{name.split()[0].lower()}@example.se")
        await page.get_by_label("Organisation *").fill("Bibliotek")
        await page.get_by_label("Region *").select_option(label=region)
        await page.get_by_role("button", name="Anmäl mig").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")
    mod = await new_page(browser, server.url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020")
    await mod.get_by_role("link", name="Anmälningar").click()
    await expect(mod.locator("#count-total")).to_have_text("2")
    await axe_check(mod)
    await mod.get_by_label("Region", exact=True).select_option(label="Skåne")
    await mod.get_by_role("button", name="Visa").press("Enter")
    await expect(mod.locator("#result-count")).to_have_text("1 anmälningar matchar.")
    async with mod.expect_download() as download:
        await mod.locator("#export-csv").click()
    csv = Path(await (await download.value).path()).read_text(encoding="utf-8-sig")
    assert "Bertil Ceder" in csv and "Ada Berg" not in csv
    await mod.get_by_role("link", name="Bertil Ceder").click()
    await axe_check(mod)
    await mod.get_by_label("Kommun").fill("Ystad")
    await mod.get_by_role("button", name="Spara").press("Enter")
    await expect(mod.locator("#saved")).to_be_visible()
    await mod.get_by_role("link", name="Ta bort anmälan…").click()
    await axe_check(mod)

    admin = await new_page(browser, server.url)
    await login(admin, *ADMIN)
    await admin.goto("/admin/mail")
    await expect(admin.locator("#outbox")).to_contain_text("ada@example.se")
    await expect(admin.locator("#no-smtp")).to_have_count(0)
    await axe_check(admin)


async def tab_to_id(page: Page, ident: str, limit: int = 120) -> None:
    """Press Tab until the element with this id has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement && document.activeElement.id") \
                == ident:
            return
    raise AssertionError(f"Tab never reached #{ident}")


async def test_admin_sets_up_spring_2027_from_autumn_2020_and_a_participant_gets_in(
        browser, mail_server, smtp) -> None:
    """Issue 23 point 7, keyboard only: copy, move an item, add a speaker and a link, publish;
    register, the mail with the join link and a valid invitation, the live page."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    server = await started(mail_server)
    admin = await new_page(browser, server.url)
    await login(admin, *ADMIN)
    await admin.goto("/admin/events")
    await axe_check(admin)
    await tab_to(admin, "Kopiera")
    await admin.keyboard.press("Enter")
    await expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Kopiera Träffpunkt biblioteksplaner hösten 2020")
    await axe_check(admin)
    await tab_to_id(admin, "f-title")
    await admin.keyboard.press("Control+A")
    await admin.keyboard.type("Träffpunkt biblioteksplaner våren 2027")
    await tab_to_id(admin, "f-slug")
    await admin.keyboard.type("varen-2027")
    await tab_to_id(admin, "f-starts_at")
    # The browser's own date control (keyboard-operable by itself); its segments follow
    # Chromium's UI language, not the page's, so the value is set rather than typed.
    await admin.locator("#f-starts_at").fill("2027-03-18T09:00")
    await tab_to(admin, "Skapa kopian")
    await admin.keyboard.press("Enter")
    await expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Program: Träffpunkt biblioteksplaner våren 2027")
    await axe_check(admin)
    titles = await admin.locator("#programme-items > li h2").all_inner_texts()
    await tab_to(admin, f"Flytta upp: {titles[1]}")
    await admin.keyboard.press("Enter")
    await expect(admin.locator("#moved")).to_contain_text("flyttad uppåt")
    moved = await admin.locator("#programme-items > li h2").all_inner_texts()
    assert moved[:2] == [titles[1], titles[0]]
    await axe_check(admin)

    await tab_to(admin, f"Redigera: {moved[0]}")
    await admin.keyboard.press("Enter")
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Redigera programpunkt")
    await axe_check(admin)
    empty = await admin.evaluate(
        "() => [...document.querySelectorAll('input[name$=\"-name\"]')].find(e => !e.value).id")
    await tab_to_id(admin, empty)
    await admin.keyboard.type("Lena Nordin")
    await admin.keyboard.press("Tab")
    await admin.keyboard.type("Regionbibliotekarie")
    await admin.keyboard.press("Tab")
    await admin.keyboard.type("Region Dalarna")
    link_label = await admin.evaluate(
        "() => [...document.querySelectorAll('input[name$=\"-label\"]')].find(e => !e.value).id")
    await tab_to_id(admin, link_label)
    await admin.keyboard.type("Handbok för biblioteksplaner")
    await admin.keyboard.press("Tab")
    await admin.keyboard.type("https://www.kb.se/handbok-biblioteksplaner.pdf")
    await admin.keyboard.press("Enter")
    await expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Program: Träffpunkt biblioteksplaner våren 2027")

    await admin.goto("/admin/events/varen-2027")
    await axe_check(admin)
    await tab_to_id(admin, "f-description_en")  # just before the status radios
    await tab_to(admin, "Utkast")
    await admin.keyboard.press("ArrowDown")  # the radio group: Publicerat
    await tab_to(admin, "Spara")
    await admin.keyboard.press("Enter")
    await expect(admin.locator("#saved")).to_be_visible()
    await axe_check(admin)
    await admin.goto("/admin/events/varen-2027/themes")
    await axe_check(admin)

    # A moderator is invited; the mail arrives and its link works.
    await admin.goto("/admin/staff")
    await axe_check(admin)
    await tab_to_id(admin, "f-display_name")
    await admin.keyboard.type("Lotta Berg")
    await admin.keyboard.press("Tab")
    await admin.keyboard.type("lotta@kb.se")
    await tab_to_id(admin, "f-event")  # moderator (the default) at the spring event only
    await admin.keyboard.press("ArrowDown")  # from "Alla evenemang" to the newest event
    await expect(admin.locator("#f-event option:checked")).to_contain_text("våren 2027")
    await tab_to(admin, "Skicka inbjudan")
    await admin.keyboard.press("Enter")
    await expect(admin.locator("#invited")).to_contain_text("lotta@kb.se")
    await axe_check(admin)
    invitation = await mail_to(smtp, "lotta@kb.se", "Inbjudan till Träffpunkt")
    invite_link = re.search(r"http://127\.0\.0\.1:\d+/staff/invitation/[\w-]+",
                            plain_text(invitation))
    assert invite_link
    lotta = await new_page(browser, server.url)
    await lotta.goto(invite_link.group(0))
    await axe_check(lotta)
    await tab_to_id(lotta, "f-username")
    await lotta.keyboard.type("lotta")
    await lotta.keyboard.press("Tab")
    await lotta.keyboard.type("ett långt lösenord")
    await lotta.keyboard.press("Tab")
    await lotta.keyboard.type("ett långt lösenord")
    await lotta.keyboard.press("Enter")
    await expect(lotta.get_by_role("button", name="Logga ut (Lotta Berg)")).to_be_visible()
    await lotta.goto("/e/varen-2027/moderate")
    await expect(lotta.locator("#connection-state")).to_have_text("Ansluten")
    elsewhere = await lotta.goto("/e/hosten-2020/moderate")
    assert elsewhere is not None and elsewhere.status == 403, "a moderator of spring 2027 only"

    visitor = await new_page(browser, server.url)
    await visitor.goto("/e/varen-2027")
    await expect(visitor.get_by_role("heading", level=1)).to_have_text(
        "Träffpunkt biblioteksplaner våren 2027")
    await expect(visitor.locator(".programme-item").first).to_contain_text(
        "Lena Nordin, Regionbibliotekarie, Region Dalarna")
    handbook = visitor.get_by_role("link", name="Handbok för biblioteksplaner")
    await expect(handbook).to_have_attribute(
        "href", "https://www.kb.se/handbok-biblioteksplaner.pdf")
    await tab_to(visitor, "Anmäl dig")
    await visitor.keyboard.press("Enter")
    await expect(visitor.get_by_role("heading", level=1)).to_contain_text("Anmälan")
    for label, value in (("Namn", "Sonja Viklund"), ("E-post", "sonja@example.se"),
                         ("Organisation", "Mora bibliotek")):
        await tab_to(visitor, label)
        await visitor.keyboard.type(value)
    await tab_to(visitor, "Region")
    await visitor.keyboard.type("Dalarna")
    await tab_to(visitor, "Anmäl mig")
    await visitor.keyboard.press("Enter")
    await expect(visitor.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")

    message = await mail_to(smtp, "sonja@example.se", "Du är anmäld")
    assert "våren 2027" in message["Subject"]
    link = re.search(r"http://127\.0\.0\.1:\d+/e/varen-2027/join/[\w-]+", plain_text(message))
    assert link
    [vevent] = calendar_of(message).walk("VEVENT")
    assert vevent.decoded("dtstart") == datetime(2027, 3, 18, 9, 0,
                                                 tzinfo=ZoneInfo("Europe/Stockholm"))
    assert str(vevent.get("summary")) == "Träffpunkt biblioteksplaner våren 2027"
    laptop = await new_page(browser, server.url)
    await laptop.goto(link.group(0))
    await expect(laptop.locator("#connection-state")).to_have_text("Ansluten")
    await axe_check(laptop)
