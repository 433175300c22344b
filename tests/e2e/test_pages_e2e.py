"""A newcomer's path through the pages in a real browser, with axe-core on every page."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check, login, new_page


async def test_register_see_programme_and_join(browser, demo_server) -> None:
    page = await new_page(browser, demo_server.url)
    await page.goto("/")
    await axe_check(page)
    await page.get_by_role("link", name="Träffpunkt biblioteksplaner hösten 2020").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Träffpunkt biblioteksplaner hösten 2020")
    await expect(page.get_by_role(
        "heading", name="Biblioteksplanen som verktyg i kris").first).to_be_visible()
    await expect(page.locator(".speakers", has_text="Maria Bergroth")).to_contain_text(
        "Myndigheten för samhällsskydd och beredskap (MSB)")
    await axe_check(page)
    await page.get_by_role("link", name="Anmäl dig").click()
    await axe_check(page)
    await page.get_by_label("Namn *").fill("Sonja Viklund")
    await page.get_by_label("Organisation *").fill("Mora bibliotek")
    await page.get_by_label("Kommun").fill("Mora")
    await page.get_by_label("Region *").select_option(label="Dalarna")
    await page.get_by_role("button", name="Anmäl mig").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tack, du är anmäld!")
    link = await page.get_by_label("Din personliga länk", exact=False).input_value()
    assert "/e/hosten-2020/join/" in link
    await axe_check(page)
    await page.get_by_role("link", name="Gå till sändningen").click()
    await expect(page.locator("#connection-state")).to_have_text("Ansluten")
    await expect(page.locator("#online-count")).to_have_text("1 uppkopplade")
    await axe_check(page)


async def test_registration_errors_are_shown_next_to_fields(browser, demo_server) -> None:
    page = await new_page(browser, demo_server.url)
    await page.goto("/e/hosten-2020/register")
    await page.get_by_label("Namn *").fill("  ")
    await page.get_by_role("button", name="Anmäl mig").click()
    await expect(page.get_by_role("alert")).to_contain_text("Anmälan kunde inte sparas")
    await expect(page.locator("#f-name-error")).to_have_text("Fältet är obligatoriskt.")
    await expect(page.locator("#f-region-error")).to_be_visible()
    await expect(page.get_by_label("Namn *")).to_have_attribute("aria-invalid", "true")
    await axe_check(page)


async def test_moderator_logs_in_and_moves_programme(browser, demo_server) -> None:
    mod = await new_page(browser, demo_server.url)
    await login(mod, *MODERATOR)
    await mod.goto("/e/hosten-2020/moderate")
    await expect(mod.locator("#connection-state")).to_have_text("Ansluten")
    await axe_check(mod)
    viewer = await new_page(browser, demo_server.url)
    await viewer.goto("/e/hosten-2020/register")
    await viewer.get_by_label("Namn *").fill("Per Andersson")
    await viewer.get_by_label("Organisation *").fill("Eslövs bibliotek")
    await viewer.get_by_label("Region *").select_option(label="Skåne")
    await viewer.get_by_role("button", name="Anmäl mig").click()
    await viewer.goto("/e/hosten-2020/live")
    await expect(viewer.locator("#connection-state")).to_have_text("Ansluten")
    await expect(mod.locator("#online-list")).to_contain_text("Per Andersson (M)")
    row = mod.locator("#console-programme li", has_text="Framtidsdialoger")
    await row.get_by_role("button").click()
    await expect(row.get_by_role("button")).to_have_attribute("aria-pressed", "true")
    await expect(viewer.locator("#current-item")).to_have_text("Framtidsdialoger - en metodbok")


async def test_english_switch_and_accessibility_statement(browser, demo_server) -> None:
    page = await new_page(browser, demo_server.url)
    await page.goto("/tillganglighet")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tillgänglighetsredogörelse")
    await axe_check(page)
    await page.get_by_role("link", name="In English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accessibility statement")
    assert await page.get_attribute("html", "lang") == "en"
    await page.get_by_label("Description *").fill("Kontrasten på knappen är för låg.")
    await page.get_by_role("button", name="Send report").click()
    await expect(page.get_by_role("status").filter(has_text="Thank you")).to_be_visible()
    await axe_check(page)
    await page.goto("/login")
    await axe_check(page)


async def test_staff_reports_swedish_login_and_404_pass_axe(browser, demo_server) -> None:
    visitor = await new_page(browser, demo_server.url)
    await visitor.goto("/tillganglighet")
    await expect(visitor.get_by_role("link", name="kontakta Myndigheten för digital förvaltning",
                                     exact=False)).to_have_attribute(
        "href", "https://www.digg.se/tdosanmalan")
    await visitor.get_by_label("Beskrivning *").fill("Fokus syns inte på <knappen>.")
    await visitor.get_by_role("button", name="Skicka rapport").click()
    await expect(visitor.get_by_role("status").filter(has_text="Tack")).to_be_visible()

    staff = await new_page(browser, demo_server.url)
    await staff.goto("/login")
    await expect(staff.get_by_role("heading", level=1)).to_have_text("Inloggning för personal")
    assert await staff.get_attribute("html", "lang") == "sv"
    await axe_check(staff)
    await login(staff, *MODERATOR)
    await staff.goto("/tillganglighet")
    await staff.get_by_role("link", name="Rapporterade tillgänglighetsbrister (personal)").click()
    await expect(staff.get_by_role("heading", level=1)).to_have_text(
        "Rapporterade tillgänglighetsbrister")
    await expect(staff.locator("#reports tbody")).to_contain_text("Fokus syns inte på <knappen>.")
    await axe_check(staff)

    missing = await staff.goto("/sidan-finns-inte")
    assert missing is not None and missing.status == 404
    await expect(staff.get_by_role("main")).to_contain_text("Sidan finns inte.")
    await axe_check(staff)
