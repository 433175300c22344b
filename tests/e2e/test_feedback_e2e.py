"""Regional feedback in Chromium: a facilitator fills and submits the form, KB sees it on the
dashboard and in the export; axe-core finds nothing serious on either page."""

from __future__ import annotations

import csv
import io

from playwright.async_api import expect

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
