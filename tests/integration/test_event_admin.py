"""Events set up in the browser by admins (issue 23 point 1), through HTTP on PostgreSQL:
create, copy autumn 2020, edit details and programme, move items, speakers and links, themes,
draft / published / archived, registration window and cap; every input checked, every change
audited, a new time mailed."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.mail.models import OutboxMessage
from server.platform.models import AuditEntry, Event, ProgrammeItem, Theme
from tests.conftest import get_csrf, register, signed_in

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def post(client, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return await client.post(path, form={**form, "csrf_token": await get_csrf(client, path)})


async def event_by_slug(app, slug: str) -> Event | None:  # type: ignore[no-untyped-def]
    from server.platform import programme

    async with app.platform.db.session() as db:
        try:
            return await programme.get_event(db, slug)
        except Exception:
            return None


NEW = {"slug": "varen-2027", "title": "Träffpunkt biblioteksplaner våren 2027",
       "starts_at": "2027-03-18T09:00", "ends_at": "2027-03-18T15:30", "status": "draft",
       "location": "KB, Stockholm", "qa_premoderation": "on"}


async def test_only_admins_reach_the_event_pages(app, client) -> None:
    moderator = await signed_in(app, "moderator")
    for path in ("/admin/events", "/admin/events/new", "/admin/events/hosten-2020",
                 "/admin/events/hosten-2020/programme", "/admin/events/hosten-2020/copy",
                 "/admin/events/hosten-2020/themes", "/admin/events/hosten-2020/event.json"):
        assert (await client.get(path)).status_code == 401, path
        assert (await moderator.get(path)).status_code == 403, path
    admin = await signed_in(app, "admin")
    page = (await (await admin.get("/admin/events")).get_data()).decode()
    assert "Träffpunkt biblioteksplaner hösten 2020" in page and "Publicerat" in page


async def test_a_new_event_is_a_draft_until_published(app, client) -> None:
    admin = await signed_in(app, "admin")
    bad = await post(admin, "/admin/events/new", {**NEW, "slug": "Våren 2027!",
                                                  "ends_at": "2027-03-18T08:00", "title": ""})
    html = (await bad.get_data()).decode()
    assert bad.status_code == 422
    assert 'id="f-slug-error">Använd små bokstäver' in html
    assert 'id="f-title-error">Fältet är obligatoriskt.' in html
    made = await post(admin, "/admin/events/new", NEW)
    assert made.status_code == 302
    assert "/admin/events/varen-2027/programme" in made.headers["Location"]
    event = await event_by_slug(app, "varen-2027")
    assert event is not None and event.status == "draft"
    assert event.starts_at == datetime(2027, 3, 18, 9, 0, tzinfo=STOCKHOLM)
    assert (event.qa_premoderation, event.qa_allow_anonymous) == (True, False)
    taken = await post(admin, "/admin/events/new", NEW)
    assert taken.status_code == 422 and "finns redan" in (await taken.get_data()).decode()
    # A draft is the staff's alone.
    assert (await client.get("/e/varen-2027")).status_code == 404
    assert (await client.get("/e/varen-2027/register")).status_code == 404
    assert "våren 2027" not in (await (await client.get("/")).get_data()).decode()
    assert (await admin.get("/e/varen-2027")).status_code == 200
    published = await post(admin, "/admin/events/varen-2027", {**NEW, "status": "published"})
    assert published.status_code == 302
    assert (await client.get("/e/varen-2027")).status_code == 200
    assert (await register(app.quart.test_client(), slug="varen-2027")).status_code == 302
    await post(admin, "/admin/events/varen-2027", {**NEW, "status": "archived"})
    closed = await register(app.quart.test_client(), slug="varen-2027", name="Sen")
    assert closed.status_code == 409 and "Anmälan är stängd" in (await closed.get_data()).decode()
    async with app.platform.db.session() as db:
        actions = [a.action for a in await db.scalars(
            select(AuditEntry).where(AuditEntry.event_id == event.id).order_by(AuditEntry.id))]
    assert actions == ["event.create", "event.update", "event.update"]


async def test_copying_autumn_2020_brings_programme_themes_and_form_with_new_times(app) -> None:
    admin = await signed_in(app, "admin")
    source = await event_by_slug(app, "hosten-2020")
    done = await post(admin, "/admin/events/hosten-2020/copy", {
        "title": "Träffpunkt biblioteksplaner våren 2027", "slug": "varen-2027",
        "starts_at": "2027-03-18T09:00"})
    assert done.status_code == 302
    copy = await event_by_slug(app, "varen-2027")
    assert copy is not None and copy.status == "draft"
    assert [i.title for i in copy.items] == [i.title for i in source.items]
    assert [t.key for t in copy.themes] == [t.key for t in source.themes]
    shift = copy.starts_at - source.starts_at
    assert all(c.starts_at == s.starts_at + shift for c, s in zip(copy.items, source.items,
                                                                    strict=True) if s.starts_at)
    async with app.platform.db.session() as db:
        items = list(await db.scalars(select(ProgrammeItem).where(
            ProgrammeItem.event_id == copy.id).order_by(ProgrammeItem.position)))
        assert [[s.name for s in i.speakers] for i in items] == [
            [s.name for s in i.speakers] for i in source.items]
    file = await admin.get("/admin/events/varen-2027/event.json")
    data = json.loads(await file.get_data())
    assert data["slug"] == "varen-2027"
    assert data["feedback_form"]["fields"][0]["key"] == "uppfoljning"


async def test_programme_items_are_edited_moved_and_deleted(app, client) -> None:
    admin = await signed_in(app, "admin")
    await post(admin, "/admin/events/new", NEW)
    base = "/admin/events/varen-2027/programme"
    for title in ("Välkomna", "Biblioteksplanen i kris", "Avslutning"):
        assert (await post(admin, f"{base}/new", {"title": title})).status_code == 302
    event = await event_by_slug(app, "varen-2027")
    second = event.items[1]
    bad = await post(admin, f"{base}/{second.id}", {
        "title": "Biblioteksplanen i kris", "speaker-0-name": "", "speaker-0-title": "Chef",
        "material-0-label": "Rapport", "material-0-url": "javascript:alert(1)",
        "duration_minutes": "0"})
    html = (await bad.get_data()).decode()
    assert bad.status_code == 422
    assert 'id="f-speaker-0-name-error">Fältet är obligatoriskt.' in html
    assert 'id="f-material-0-url-error">Ange en webbadress' in html
    assert 'id="f-duration_minutes-error">Ange ett heltal' in html
    saved = await post(admin, f"{base}/{second.id}", {
        "title": "Biblioteksplanen i kris", "starts_at": "2027-03-18T10:00",
        "duration_minutes": "45",
        "speaker-0-name": "Maria Bergroth", "speaker-0-title": "Utredare",
        "speaker-0-organisation": "MSB",
        "speaker-1-name": "Karin Ek", "speaker-1-organisation": "Region Skåne",
        "organisations": "Kungliga biblioteket\n\nRegion Skåne",
        "material-0-label": "Rapporten (pdf)",
        "material-0-url": "https://www.kb.se/rapport.pdf"})
    assert saved.status_code == 302
    moved = await post(admin, f"{base}/{second.id}/move", {"direction": "up"})
    assert moved.status_code == 302
    event = await event_by_slug(app, "varen-2027")
    assert [i.title for i in event.items] == ["Biblioteksplanen i kris", "Välkomna", "Avslutning"]
    first = event.items[0]
    assert [s.name for s in first.speakers] == ["Maria Bergroth", "Karin Ek"]
    assert first.organisations == ["Kungliga biblioteket", "Region Skåne"]
    assert first.materials == [
        {"label": "Rapporten (pdf)", "url": "https://www.kb.se/rapport.pdf"}]
    await post(admin, "/admin/events/varen-2027", {**NEW, "status": "published"})
    page = (await (await client.get("/e/varen-2027")).get_data()).decode()
    assert ('<a href="https://www.kb.se/rapport.pdf" rel="noopener noreferrer">'
            'Rapporten (pdf)</a>') in page
    assert re.search(r"Maria Bergroth, Utredare, MSB", page)
    await post(admin, f"{base}/{event.items[2].id}/delete", {})
    event = await event_by_slug(app, "varen-2027")
    assert [i.title for i in event.items] == ["Biblioteksplanen i kris", "Välkomna"]
    other = await event_by_slug(app, "hosten-2020")
    refused = await post(admin, f"{base}/{other.items[0].id}", {"title": "Kapad"})
    assert refused.status_code == 404, "another event's item is not this event's"


async def test_themes_are_added_renamed_and_kept_once_rooms_opened(app) -> None:
    admin = await signed_in(app, "admin")
    await post(admin, "/admin/events/new", NEW)
    base = "/admin/events/varen-2027/themes"
    for key, title in (("utformning", "Utformning"), ("uppfoljning", "Uppföljning")):
        assert (await post(admin, base, {"key": key, "title": title})).status_code == 302
    dup = await post(admin, base, {"key": "utformning", "title": "Igen"})
    assert dup.status_code == 422 and "finns redan ett tema" in (await dup.get_data()).decode()
    event = await event_by_slug(app, "varen-2027")
    second = event.themes[1]
    await post(admin, f"{base}/{second.id}/move", {"direction": "up"})
    await post(admin, f"{base}/{second.id}", {
        "key": "uppfoljning", "title": "Hur planerna följs upp", "title_en": "Follow-up"})
    async with app.platform.db.session() as db:
        themes = list(await db.scalars(select(Theme).where(Theme.event_id == event.id)
                                       .order_by(Theme.position)))
    assert [(t.key, t.title) for t in themes] == [
        ("uppfoljning", "Hur planerna följs upp"), ("utformning", "Utformning")]


async def test_a_new_time_sends_the_registered_an_updated_invitation(app) -> None:
    admin = await signed_in(app, "admin")
    await post(admin, "/admin/events/new", {**NEW, "status": "published"})
    await register(app.quart.test_client(), slug="varen-2027", email="asa@example.se")
    same = await post(admin, "/admin/events/varen-2027", {**NEW, "status": "published",
                                                          "title": "Ny titel"})
    assert "saved=1" in same.headers["Location"]
    moved = await post(admin, "/admin/events/varen-2027", {
        **NEW, "status": "published", "title": "Ny titel", "starts_at": "2027-03-19T09:00",
        "ends_at": "2027-03-19T15:00"})
    assert "saved=mailed" in moved.headers["Location"]
    async with app.platform.db.session() as db:
        kinds = [m.kind for m in await db.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id))]
        event = await db.scalar(select(Event).where(Event.slug == "varen-2027"))
    assert kinds == ["confirmation", "update"]
    assert event.schedule_version == 1


async def test_registration_window_and_cap_from_the_form(app) -> None:
    admin = await signed_in(app, "admin")
    bad = await post(admin, "/admin/events/new", {**NEW, "registration_cap": "-3"})
    assert 'id="f-registration_cap-error">Ange ett heltal från 1 till 100000.' in (
        await bad.get_data()).decode()
    bad = await post(admin, "/admin/events/new", {
        **NEW, "registration_opens_at": "2027-02-01T00:00",
        "registration_closes_at": "2027-01-01T00:00"})
    assert 'id="f-registration_closes_at-error">Sista anmälningsdag' in (
        await bad.get_data()).decode()
    for junk in ("igår", "2027-13-45T99:99", "1800-01-01T00:00", "x" * 500):
        bad = await post(admin, "/admin/events/new", {**NEW, "starts_at": junk})
        assert bad.status_code == 422
        assert 'id="f-starts_at-error">Ange datum och tid.' in (await bad.get_data()).decode()
    await post(admin, "/admin/events/new", {**NEW, "status": "published", "registration_cap": "1",
                                            "registration_opens_at": "2020-01-01T00:00"})
    assert (await register(app.quart.test_client(), slug="varen-2027")).status_code == 302
    page = (await (await app.quart.test_client().get("/e/varen-2027/register")).get_data()).decode()
    assert 'id="registration-closed"' in page and "Evenemanget är fullt" in page
    assert "<form method=\"post\" novalidate" not in page
