"""The cycle after the webcast in Chromium (issue 24 point 7), as its people live it: KB's
archivist publishes item 8 ("Biblioteksplanen som verktyg i kris") as a film of its own; the
facilitator of Jämtland Härjedalen schedules the region's follow-up a week after the webcast;
two municipal participants join by its link; they watch item 8's film together (one moves to a
chapter and plays, the others follow); they write notes under two themes; the region asks its
municipalities one question of its own, one answers, and the region sends its feedback; the
region's proposal is accepted by KB and taken into the copied next event's programme; KB's
follow-up view shows the region's meeting, feedback and proposal. axe on every page on the way,
the keyboard for the film's publishing and the room's player."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from server.platform.db import Database
from server.platform.models import Event, ProgrammeItem, User
from server.recording.models import ChapterMark
from tests.conftest import ARCHIVIST, password_hash
from tests.e2e.conftest import axe_check, login, new_page
from tests.e2e.test_play_e2e import _recording
from tests.e2e.test_watch_e2e import KARIN, facilitator, meeting_link, position, tab_to

pytestmark = pytest.mark.e2e
SLUG = "hosten-2020"
ITEM_8 = "Biblioteksplanen som verktyg i kris"
SPEAKERS_8 = ["Anna Lundström", "Lisa Ångman", "Sonja Viklund", "Oskar Laurin"]
ADMIN = ("kb-admin", "kb-admin-lösenord-1")
PROPOSAL = "Krisberedskap i biblioteksplanen: erfarenheter från Jämtland Härjedalen"
QUESTION = "Hur använde er kommun biblioteksplanen under pandemin?"
NEXT = ("Träffpunkt biblioteksplaner våren 2021", "varen-2021", "2021-04-19T09:00")


async def item_marks_and_admin(url: str, rec_id: int) -> None:
    """The stage moved from item 7 to item 8 four seconds into the recording; a moderator
    marked the talk that followed at eight. And KB's admin, who copies events."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            event = await session.scalar(select(Event.id).where(Event.slug == SLUG))
            items = list(await session.scalars(select(ProgrammeItem).where(
                ProgrammeItem.event_id == event).order_by(ProgrammeItem.position)))
            for at, item, title in ((0.0, items[6], None), (4.0, items[7], None),
                                    (8.0, None, "Samtal om krisen")):
                session.add(ChapterMark(recording_id=rec_id, offset_seconds=at,
                                        title=title or item.title,
                                        item_id=item.id if item else None,
                                        source="programme" if item else "moderator"))
            session.add(User(username=ADMIN[0], display_name="KB Admin", role="admin",
                             password_hash=password_hash(ADMIN[1])))
    finally:
        await db.close()


async def publish_item_8(browser, base: str, rec_id: int) -> None:  # type: ignore[no-untyped-def]
    arch = await new_page(browser, base)
    await login(arch, *ARCHIVIST)
    await arch.goto(f"/archive/recordings/{rec_id}")
    films = arch.locator("#films")
    await expect(films.get_by_role("row")).to_have_count(3)  # the header, items 7 and 8
    await films.get_by_role("link", name=ITEM_8).click()
    await expect(arch.get_by_role("heading", level=1)).to_have_text(
        f"Film för programpunkt: {ITEM_8}")
    await expect(arch.locator("#trim_in")).to_have_value("0:00:04")
    await axe_check(arch)
    for name in SPEAKERS_8:  # the item's speakers, and nobody else's
        await arch.get_by_role("button", name=f"Bekräfta samtycke för {name}").click()
    await expect(arch.locator(".consent-list li")).to_have_count(len(SPEAKERS_8))
    await tab_to(arch, "#publish-button")
    await arch.keyboard.press("Enter")
    await expect(arch.locator("#publish-status")).to_have_text("Publicerad", timeout=60_000)
    await arch.get_by_role("link", name="Öppna på Play").click()
    await expect(arch.get_by_role("heading", level=1)).to_have_text(ITEM_8)
    await expect(arch.locator("#chapter-nav button")).to_have_count(2)
    await axe_check(arch)
    await arch.goto("/play")
    await expect(arch.locator(".film-list")).to_contain_text(ITEM_8)
    await axe_check(arch)
    await arch.context.close()


async def join(browser, base: str, link: str, name: str, municipality: str) -> Page:  # type: ignore[no-untyped-def]
    page = await new_page(browser, base)
    await page.goto(link)
    await page.get_by_label("Namn").fill(name)
    await page.get_by_label("Organisation").fill(f"{municipality}s bibliotek")
    await page.get_by_label("Kommun").fill(municipality)
    await page.get_by_role("button", name="Gå in i mötet").click()
    await page.wait_for_url("**/rooms/*")
    await expect(page.locator("#connection-state")).to_have_text("Ansluten")
    return page


async def send_region_feedback(karin: Page) -> None:
    await karin.goto(f"/e/{SLUG}/feedback/regions/Z")
    await expect(karin.get_by_role("heading", level=1)).to_have_text(
        "Regional återkoppling: Jämtland Härjedalen")
    await karin.get_by_label(
        "Hur har regionen följt upp biblioteksplanerna sedan förra Träffpunkt? *"
    ).fill("Uppföljningsmöte med kommunerna den 2 november; planen i kris stod i centrum.")
    await (karin.get_by_role("group", name="Har regionen haft en efterföljande sammankomst")
           .get_by_label("Ja").check())
    await karin.get_by_label(
        "Vad vill regionen att nästa Träffpunkt biblioteksplaner ska ta upp? *"
    ).fill("Krisberedskap i biblioteksplanen.")
    await (karin.get_by_role("group", name="Vilken form har regionens återkoppling till KB?")
           .get_by_label("Skriftlig sammanfattning").check())
    for group, grade in (("Hur bedömer regionen dagen som helhet?", "4"),
                         ("Hur tillgänglig var dagen", "5")):
        await karin.get_by_role("group", name=group).get_by_label(grade).check()
    await karin.get_by_role("button", name="Skicka in till KB").click()
    await expect(karin.get_by_role("status").filter(
        has_text="Tack! Regionens återkoppling är inskickad.")).to_be_visible()
    await expect(karin.locator("#questions")).to_contain_text(QUESTION)
    await expect(karin.locator(".municipal")).to_contain_text("Vi skrev in biblioteket")
    await axe_check(karin)


async def test_a_region_follows_up_the_webcast_to_the_next_traffpunkt(
    demo_server, browser  # type: ignore[no-untyped-def]
) -> None:
    url = demo_server.env["DATABASE_URL"]
    rec_id = await _recording(url, demo_server.media)
    await item_marks_and_admin(url, rec_id)
    await facilitator(url)
    await publish_item_8(browser, demo_server.url, rec_id)

    # The facilitator schedules the region's follow-up a week after the webcast (26 October).
    karin = await new_page(browser, demo_server.url)
    await login(karin, *KARIN)
    await karin.goto(f"/e/{SLUG}/followup/new")
    await karin.get_by_label("Mötets namn").fill("Uppföljning Jämtland Härjedalen")
    await karin.get_by_label("Börjar").fill("2020-11-02T10:00")
    await karin.get_by_label("Slutar").fill("2020-11-02T12:00")
    await (karin.get_by_role("group", name="Programpunkter att se och samtala om")
           .get_by_label(ITEM_8).check())
    themes = karin.get_by_role("group", name="Teman (§ 18) att anteckna under")
    await themes.get_by_label("Hur biblioteksplanerna används").check()
    await themes.get_by_label(ITEM_8).check()
    await karin.get_by_role("button", name="Planera mötet").click()
    await expect(karin.locator("#scheduled")).to_be_visible()
    await axe_check(karin)
    link = await meeting_link(url)

    anna = await join(browser, demo_server.url, link, "Anna Berg", "Östersund")
    per = await join(browser, demo_server.url, link, "Per Ek", "Krokom")
    await karin.get_by_role("link", name="Gå till mötesrummet").click()
    await expect(karin.locator("#connection-state")).to_have_text("Ansluten")
    room_url = karin.url

    # Item 8's film, for everyone; Per moves to its second chapter and plays, Anna follows.
    await karin.locator("#watch-film").select_option(label=ITEM_8)
    await tab_to(karin, "#watch-start")
    await karin.keyboard.press("Enter")
    for page in (karin, anna, per):
        await expect(page.locator("#watch-title")).to_have_text(ITEM_8)
        await expect(page.locator("#watch-chapters button")).to_have_count(2)
    await tab_to(per, "#watch-chapters li:nth-child(2) button")
    await per.keyboard.press("Enter")
    await expect(anna.locator("#watch-status")).to_contain_text("Per Ek")
    await per.locator("#watch-video").evaluate("v => v.play()")
    await anna.wait_for_function(
        "() => !document.getElementById('watch-video').paused", timeout=10_000)
    await anna.wait_for_function(
        "() => document.getElementById('watch-video').currentTime > 3", timeout=10_000)
    assert abs(await position(anna) - await position(per)) < 1.5
    await axe_check(anna)

    # Notes under two themes, each seen by the other.
    notes = room_url + "/notes"
    for page, theme, text in ((anna, "Hur biblioteksplanerna används",
                               "Östersund: planen styrde vilka tjänster som öppnade först."),
                              (per, ITEM_8, "Krokom: krisplanen saknade biblioteket.")):
        await page.goto(notes)
        box = page.get_by_label(theme, exact=True)
        await expect(box).to_be_enabled()
        await box.press_sequentially(text, delay=5)
    await expect(anna.get_by_label(ITEM_8, exact=True)).to_have_value(
        "Krokom: krisplanen saknade biblioteket.", timeout=10_000)
    await expect(per.get_by_label("Hur biblioteksplanerna används", exact=True)).to_have_value(
        "Östersund: planen styrde vilka tjänster som öppnade först.", timeout=10_000)
    await axe_check(per)

    # The region's own question; a municipality answers it; the region sends its feedback.
    await karin.goto(f"/e/{SLUG}/feedback/regions/Z")
    await karin.get_by_label("Ny fråga").fill(QUESTION)
    await karin.get_by_role("button", name="Lägg till frågan").click()
    await expect(karin.locator("#questions")).to_contain_text(QUESTION)
    await anna.goto(f"/e/{SLUG}/feedback/municipal")
    await anna.get_by_label(QUESTION).fill("Vi skrev in biblioteket i kommunens krisplan.")
    await anna.get_by_role("button", name="Skicka till regionen").click()
    await expect(anna.locator("#saved")).to_be_visible()
    await axe_check(anna)
    await send_region_feedback(karin)

    # The region proposes content for the next Träffpunkt.
    await karin.goto(f"/e/{SLUG}/proposals")
    await karin.get_by_label("Rubrik").fill(PROPOSAL)
    await karin.get_by_label("Beskrivning").fill(
        "Tre kommuner berättar hur planen användes när biblioteken ställde om.")
    await karin.get_by_label("Tema (§ 18)").select_option(label=ITEM_8)
    await karin.get_by_label("Vem föreslår (namn)").fill("Karin Fjäll")
    await karin.get_by_label("Organisation").fill("Region Jämtland Härjedalen")
    await karin.get_by_label("Region", exact=True).select_option(label="Jämtland Härjedalen")
    await karin.get_by_role("button", name="Skicka förslaget").click()
    await expect(karin.locator("#mine")).to_be_visible()
    await expect(karin.get_by_role("heading", name=PROPOSAL)).to_be_visible()
    await axe_check(karin)

    # KB copies the event for the spring, accepts the proposal and takes it into that programme.
    kb = await new_page(browser, demo_server.url)
    await login(kb, *ADMIN)
    await kb.goto(f"/admin/events/{SLUG}/copy")
    await kb.get_by_label("Titel").fill(NEXT[0])
    await kb.get_by_label("Adress (slug)").fill(NEXT[1])
    await kb.get_by_label("Börjar").fill(NEXT[2])
    await kb.get_by_role("button", name="Skapa kopian").click()
    await kb.wait_for_url(f"**/admin/events/{NEXT[1]}/programme*")
    await kb.goto(f"/e/{SLUG}/proposals/review")
    card = kb.locator("article").filter(has=kb.get_by_role("heading", name=PROPOSAL))
    await card.get_by_label("Beslut").select_option(label="Antaget")
    await card.get_by_label("Kommentar till den som föreslog").fill("Välkomna till våren!")
    await card.get_by_role("button", name="Spara beslutet").click()
    await expect(kb.get_by_role("status").filter(has_text="Beslutet är sparat.")).to_be_visible()
    card = kb.locator("article").filter(has=kb.get_by_role("heading", name=PROPOSAL))
    await card.get_by_label("Ta in i programmet för").select_option(label=NEXT[0])
    await card.get_by_role("button", name="Ta in i programmet").click()
    await expect(kb.get_by_role("status").filter(
        has_text="Förslaget är nu en programpunkt:")).to_be_visible()
    await axe_check(kb)
    await kb.goto(f"/admin/events/{NEXT[1]}/programme")
    await expect(kb.locator("main")).to_contain_text(PROPOSAL)

    # KB's follow-up view: the region's meeting (when, who came), its feedback, its proposal.
    await kb.goto(f"/e/{SLUG}/cycle")
    row = kb.get_by_role("row").filter(has=kb.get_by_role("rowheader",
                                                          name="Jämtland Härjedalen"))
    await expect(row).to_contain_text("2020-11-02")
    await expect(row).to_contain_text("Krokom, Östersund")
    await expect(row).to_contain_text("Inskickad")
    await expect(row).to_contain_text("1 antagna")
    await axe_check(kb)
    await kb.goto(f"/e/{SLUG}/feedback/dashboard")
    await expect(kb.locator("#state-Z")).to_have_text("Inskickad")
    await kb.get_by_role("link", name="Uppföljning per region").click()
    await expect(kb.get_by_role("heading", level=1)).to_have_text("Uppföljning per region")
