"""Regional feedback in Chromium: a facilitator fills and submits the form, KB sees it on the
dashboard and in the export; axe-core finds nothing serious on either page."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from playwright.async_api import Page, Route, expect

from tests.conftest import MODERATOR
from tests.e2e.conftest import axe_check, login, new_page

SLUG = "hosten-2020"


async def test_facilitator_submits_and_kb_sees_it_and_exports_it(browser, demo_server) -> None:
    fac = await new_page(browser, demo_server.url)
    await fac.goto(f"/e/{SLUG}/register")
    await fac.get_by_label("Namn *").fill("Åsa Öberg")
    await fac.get_by_label("Organisation *").fill("Region Skåne")
    await fac.get_by_label("Region *").select_option(label="Skåne")
    await fac.get_by_role("button", name="Anmäl mig").click()

    kb = await new_page(browser, demo_server.url)
    await login(kb, *MODERATOR)
    await kb.goto(f"/e/{SLUG}/moderate")
    await kb.get_by_role("link", name="Öppna översikten över regionernas återkoppling").click()
    await expect(kb.get_by_role("heading", level=1)).to_have_text(
        "Regional återkoppling – översikt"
    )
    await kb.get_by_label("Samtalsledare för Skåne", exact=True).select_option(
        label="Åsa Öberg, Region Skåne"
    )
    await kb.get_by_role("button", name="Spara samtalsledare för Skåne").click()
    await expect(
        kb.get_by_role("status").filter(has_text="Samtalsledaren är sparad.")
    ).to_be_visible()
    await axe_check(kb)

    await fac.goto(f"/e/{SLUG}/live")
    await fac.get_by_role("link", name="Regional återkoppling").click()
    await expect(fac.get_by_role("heading", level=1)).to_have_text("Regional återkoppling: Skåne")
    await axe_check(fac)
    await fac.get_by_label(
        "Hur har regionen följt upp biblioteksplanerna sedan förra Träffpunkt? *"
    ).fill("Nätverksträffar för kommunernas bibliotekschefer; ny enkät om planernas användning.")
    await expect(fac.locator("#autosave-status")).to_contain_text("Utkastet sparades")
    await (
        fac.get_by_role("group", name="Har regionen haft en efterföljande sammankomst")
        .get_by_label("Ja")
        .check()
    )
    await fac.get_by_label(
        "Vad vill regionen att nästa Träffpunkt biblioteksplaner ska ta upp? *"
    ).fill("Biblioteksplaner och digital delaktighet.")
    form_group = fac.get_by_role("group", name="Vilken form har regionens återkoppling till KB?")
    await form_group.get_by_label("Skriftlig sammanfattning").check()
    await (
        fac.get_by_role("group", name="Hur bedömer regionen dagen som helhet?")
        .get_by_label("4")
        .check()
    )
    await fac.get_by_role("button", name="Skicka in till KB").click()
    # One required rating is still empty: the message is shown next to that field.
    access = fac.get_by_role("group", name="Hur tillgänglig var dagen")
    await expect(fac.locator("#f-betyg_tillganglighet-error")).to_have_text(
        "Fältet är obligatoriskt."
    )
    await access.get_by_label("5").check()
    await fac.get_by_role("button", name="Skicka in till KB").click()
    await expect(
        fac.get_by_role("status").filter(has_text="Tack! Regionens återkoppling är inskickad.")
    ).to_be_visible()
    await expect(fac.locator("#feedback-state")).to_contain_text("Inskickad")
    await axe_check(fac)

    await kb.reload()
    await expect(kb.locator("#state-M")).to_have_text("Inskickad")
    await expect(kb.locator("#q-nasta_traffpunkt")).to_contain_text(
        "Biblioteksplaner och digital delaktighet."
    )
    await expect(kb.locator("#bars-betyg_dagen")).to_contain_text("Antal svar: 1")
    await axe_check(kb)
    export = await kb.request.get(f"/e/{SLUG}/feedback/export.csv")
    rows = list(csv.DictReader(io.StringIO(await export.text())))
    answer = next(r for r in rows if r["question_key"] == "uppfoljning")
    assert answer["region_name"] == "Skåne" and answer["status"] == "submitted"
    assert answer["answer"].startswith("Nätverksträffar för kommunernas")


async def register(page: Page, name: str, organisation: str = "Region Skåne") -> None:
    await page.goto(f"/e/{SLUG}/register")
    await page.get_by_label("Namn *").fill(name)
    await page.get_by_label("Organisation *").fill(organisation)
    await page.get_by_label("Region *").select_option(label="Skåne")
    await page.get_by_role("button", name="Anmäl mig").click()
    await page.wait_for_load_state()


async def stored(page: Page) -> dict[str, Any]:
    response = await page.request.get(f"/e/{SLUG}/feedback/regions/M/response")
    assert response.ok
    return await response.json()  # type: ignore[no-any-return]


async def test_autosave_survives_a_lost_reply_and_shows_a_real_conflict(
    browser, demo_server
) -> None:
    asa = await new_page(browser, demo_server.url)
    karin = await new_page(browser, demo_server.url)
    await register(asa, "Åsa Öberg")
    await register(karin, "Karin Lund", "Lunds stadsbibliotek")
    answer = asa.get_by_label(
        "Hur har regionen följt upp biblioteksplanerna sedan förra Träffpunkt? *"
    )
    longer = "Första stycket om Malmö. Andra stycket om Lund, Ystad och Åhus."
    lost: list[str] = []

    async def lose_the_first_reply(route: Route) -> None:
        if lost:
            await route.continue_()
            return
        await route.fetch()  # the server stores the draft ...
        lost.append(route.request.post_data or "")
        await answer.fill(longer)  # ... Åsa types on ...
        await route.abort("connectionreset")  # ... and the reply never arrives

    await asa.route("**/feedback/regions/M/draft", lose_the_first_reply)
    await asa.goto(f"/e/{SLUG}/feedback/regions/M")
    await answer.fill("Första stycket om Malmö.")
    # The next save still carries version 0: the server answers feedback.conflict (or the
    # socket tells of version 1 first); either way the page finds its own save stored, takes
    # its version and saves the newer text.
    await expect(asa.locator("#autosave-status")).to_contain_text("Utkastet sparades")
    await expect(asa.locator("#autosave-conflict")).to_be_hidden()
    assert len(lost) == 1 and "Första stycket om Malmö." in lost[0]
    now = await stored(asa)
    assert now["version"] == 2 and now["answers"]["uppfoljning"] == longer
    await expect(answer).to_have_value(longer)

    # Karin saves while Åsa is typing: that is a real conflict, and Åsa's text stays.
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await asa.unroute("**/feedback/regions/M/draft")
    await asa.route("**/feedback/regions/M/draft", hold)
    await answer.fill("Åsas nya version som inte får försvinna.")
    saved = await karin.request.post(
        f"/e/{SLUG}/feedback/regions/M/draft",
        data=json.dumps({"version": 2, "answers": {"uppfoljning": "Karins version."}}),
        headers={"Content-Type": "application/json", "X-CSRF-Token": await csrf(karin)},
    )
    assert saved.ok, await saved.text()
    release.set()
    conflict = asa.locator("#autosave-conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict).to_contain_text("Karin Lund sparade en annan version")
    await expect(answer).to_have_value("Åsas nya version som inte får försvinna.")
    await axe_check(asa)
    await asa.get_by_role("button", name="Spara min text över den andra versionen").click()
    await expect(asa.locator("#autosave-status")).to_contain_text("Utkastet sparades")
    await expect(conflict).to_be_hidden()
    mine = (await stored(asa))["answers"]["uppfoljning"]
    assert mine == "Åsas nya version som inte får försvinna."


async def csrf(page: Page) -> str:
    await page.goto(f"/e/{SLUG}/feedback/regions/M")
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token
