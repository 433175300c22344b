"""Roles per event (issue 23 point 2): an admin gives a staff member a role at one event, a
facilitator a region or a group of regions there; the role holds at that event only, over HTTP
and on the socket, and a change reaches the person's open pages at once. Through HTTP on
PostgreSQL, and a real socket.io client against a live server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from server.platform.auth import hash_password
from server.platform.db import Database
from server.platform.models import Event, StaffRole, User
from server.programme.importer import import_event, read_event_file
from server.recording.models import Recording
from tests.conftest import DEMO, get_csrf, signed_in
from tests.helpers import Browser
from tests.mail import plain_text


async def post(client, path: str, form: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A form post; a list value is sent as repeated fields (ticked checkboxes)."""
    fields = [(k, v) for k, value in form.items()
              for v in (value if isinstance(value, list) else [value])]
    fields.append(("csrf_token", await get_csrf(client, "/")))
    return await client.post(path, data=urlencode(fields), headers={
        "Content-Type": "application/x-www-form-urlencoded"})


async def spring_event(platform: Any) -> int:
    """A second event beside autumn 2020 (the demo file under another slug)."""
    data = read_event_file(DEMO).model_copy(update={
        "slug": "varen-2027", "title": "Träffpunkt biblioteksplaner våren 2027"})
    async with platform.db.transaction() as db:
        await import_event(db, data)
        return int(await db.scalar(select(Event.id).where(Event.slug == "varen-2027")))


async def user_id(platform: Any, username: str) -> int:
    async with platform.db.session() as db:
        return int(await db.scalar(select(User.id).where(User.username == username)))


async def status(client, path: str) -> int:  # type: ignore[no-untyped-def]
    return int((await client.get(path)).status_code)


async def test_a_moderator_of_one_event_moderates_that_event_only(app) -> None:
    spring = await spring_event(app.platform)
    admin = await signed_in(app, "admin")
    lena = await signed_in(app, "staff", "lena")  # staff with no role of their own
    lena_id = await user_id(app.platform, "lena")
    assert await status(lena, "/e/varen-2027/moderate") == 403
    given = await post(admin, f"/admin/staff/{lena_id}/roles",
                       {"role": "moderator", "event": str(spring)})
    assert given.status_code == 302
    page = (await (await admin.get(given.headers["Location"])).get_data()).decode()
    assert "Rollerna är sparade" in page and "Träffpunkt biblioteksplaner våren 2027" in page
    listing = (await (await admin.get("/admin/staff")).get_data()).decode()
    assert "Moderator vid Träffpunkt biblioteksplaner våren 2027" in listing

    for path in ("/e/varen-2027/moderate", "/e/varen-2027/registrations",
                 "/e/varen-2027/feedback/dashboard"):
        assert await status(lena, path) == 200, path
    for path in ("/e/hosten-2020/moderate", "/e/hosten-2020/registrations",
                 "/e/hosten-2020/feedback/dashboard", "/admin/staff", "/archive"):
        assert await status(lena, path) == 403, path

    role_id = (await _roles(app.platform, lena_id))[0].id
    assert (await post(admin, f"/admin/staff/roles/{role_id}/remove", {})).status_code == 302
    assert await status(lena, "/e/varen-2027/moderate") == 403, "a role taken back is gone"


async def test_a_facilitator_leads_the_group_of_regions_given(app) -> None:
    admin = await signed_in(app, "admin")
    await signed_in(app, "staff", "nils")
    nils_id = await user_id(app.platform, "nils")
    async with app.platform.db.session() as db:
        autumn = int(await db.scalar(select(Event.id).where(Event.slug == "hosten-2020")))
    given = await post(admin, f"/admin/staff/{nils_id}/roles",
                       {"role": "facilitator", "event": str(autumn), "regions": ["M", "K"]})
    assert given.status_code == 302
    person = (await (await admin.get(f"/admin/staff/{nils_id}")).get_data()).decode()
    assert "Blekinge, Skåne" in person
    nils = await signed_in(app, "staff", "nils")
    for code in ("M", "K"):
        page = await nils.get(f"/e/hosten-2020/feedback/regions/{code}")
        assert page.status_code == 200, code
        assert 'name="action" value="submit"' in (await page.get_data()).decode()
    assert await status(nils, "/e/hosten-2020/feedback/regions/AB") == 403
    assert await status(nils, "/e/hosten-2020/moderate") == 403


async def test_roles_are_validated_and_only_admins_give_them(app) -> None:
    spring = await spring_event(app.platform)
    admin = await signed_in(app, "admin")
    moderator = await signed_in(app, "moderator")
    mod_id = await user_id(app.platform, "moderator")
    admin_id = await user_id(app.platform, "admin")

    wrong = await post(admin, f"/admin/staff/{mod_id}/roles",
                       {"role": "facilitator", "event": str(spring), "regions": ["ZZ"]})
    assert wrong.status_code == 422
    assert 'id="f-regions-error">Okänd region.' in (await wrong.get_data()).decode()
    no_event = await post(admin, f"/admin/staff/{mod_id}/roles",
                          {"role": "moderator", "event": "999999"})
    assert no_event.status_code == 422
    assert "Evenemanget finns inte." in (await no_event.get_data()).decode()
    admin_here = await post(admin, "/admin/staff/invite", {
        "email": "a@kb.se", "display_name": "A", "role": "admin", "event": str(spring)})
    assert admin_here.status_code == 422
    assert "En administratör är administratör vid alla evenemang" in (
        await admin_here.get_data()).decode()
    en = await admin.post(f"/admin/staff/{mod_id}/roles?lang=en", form={
        "role": "speaker", "event": "x", "csrf_token": await get_csrf(admin, "/")})
    assert en.status_code == 422
    assert await status(admin, "/admin/staff/999999") == 404
    assert (await post(admin, "/admin/staff/999999/roles",
                       {"role": "moderator", "event": str(spring)})).status_code == 404
    assert (await post(admin, f"/admin/staff/{admin_id}/role",
                       {"role": "moderator"})).status_code == 409, "not one's own roles"
    assert (await post(moderator, f"/admin/staff/{mod_id}/roles",
                       {"role": "archivist", "event": str(spring)})).status_code == 403
    assert (await post(admin, f"/admin/staff/{mod_id}/role", {"role": "root"})).status_code == 400
    assert await _roles(app.platform, mod_id) == []


async def test_an_archivist_of_one_event_sees_that_events_recordings(app) -> None:
    spring = await spring_event(app.platform)
    admin = await signed_in(app, "admin")
    await signed_in(app, "staff", "sara")
    sara_id = await user_id(app.platform, "sara")
    async with app.platform.db.transaction() as db:
        autumn = int(await db.scalar(select(Event.id).where(Event.slug == "hosten-2020")))
        theirs = Recording(event_id=spring, file_path="varen.mp4", status="stopped")
        other = Recording(event_id=autumn, file_path="hosten.mp4", status="stopped")
        db.add_all([theirs, other])
    assert (await post(admin, f"/admin/staff/{sara_id}/roles",
                       {"role": "archivist", "event": str(spring)})).status_code == 302
    sara = await signed_in(app, "staff", "sara")
    index = (await (await sara.get("/archive")).get_data()).decode()
    assert f"/archive/recordings/{theirs.id}" in index
    assert f"/archive/recordings/{other.id}" not in index
    assert await status(sara, f"/archive/recordings/{theirs.id}") == 200
    assert await status(sara, f"/archive/recordings/{other.id}") == 403


async def test_an_invitation_to_one_event_gives_that_role_there(app, smtp) -> None:
    from tests.integration.test_staff_admin import configure_smtp, delivered, link

    configure_smtp(app, smtp)
    spring = await spring_event(app.platform)
    admin = await signed_in(app, "admin")
    sent = await post(admin, "/admin/staff/invite", {
        "email": "eva@region.se", "display_name": "Eva Ek", "role": "facilitator",
        "event": str(spring), "regions": ["AB", "C", "D"]})
    assert sent.status_code == 302
    listing = (await (await admin.get("/admin/staff")).get_data()).decode()
    assert "Eva Ek (eva@region.se), Samtalsledare (ett evenemang)" in listing
    message = await delivered(app, smtp, "eva@region.se", "Inbjudan till Träffpunkt")
    text = plain_text(message)
    assert "som Samtalsledare vid Träffpunkt biblioteksplaner våren 2027." in text
    assert "Du leder regionerna: Stockholm, Södermanland, Uppsala." in text
    eva = app.quart.test_client()
    path = link(message, "invitation")
    accepted = await eva.post(path, form={
        "username": "eva", "password": "ett långt lösenord", "repeat": "ett långt lösenord",
        "csrf_token": await get_csrf(eva, path)})
    assert accepted.status_code == 302
    eva_id = await user_id(app.platform, "eva")
    async with app.platform.db.session() as db:
        assert (await db.get(User, eva_id)).role == "staff"  # type: ignore[union-attr]
    [role] = await _roles(app.platform, eva_id)
    assert (role.event_id, role.role, role.regions) == (spring, "facilitator", ["AB", "C", "D"])
    assert await status(eva, "/e/varen-2027/feedback/regions/C") == 200
    assert await status(eva, "/e/hosten-2020/feedback/regions/C") == 403


async def test_the_socket_holds_the_role_at_its_event_and_a_change_reloads_the_page(
        demo_server, clean_db: str) -> None:
    database = Database(clean_db)
    async with database.transaction() as db:
        spring_data = read_event_file(DEMO).model_copy(update={"slug": "varen-2027"})
        await import_event(db, spring_data)
        spring = int(await db.scalar(select(Event.id).where(Event.slug == "varen-2027")))
        for name, role in (("chef", "admin"), ("lena", "staff")):
            db.add(User(username=name, display_name=name.title(), role=role,
                        password_hash=hash_password(f"{name}-lösenord-1")))
        await db.flush()
        lena_id = int(await db.scalar(select(User.id).where(User.username == "lena")))
        db.add(StaffRole(user_id=lena_id, event_id=spring, role="moderator"))
    lena, chef = Browser(demo_server.url), Browser(demo_server.url)
    await lena.login("lena", "lena-lösenord-1")
    await chef.login("chef", "chef-lösenord-1")
    here = await lena.connect("varen-2027")
    elsewhere = await lena.connect("hosten-2020")
    try:
        poll = {"question": "Hur följer ni upp planen?", "options": ["Årligen", "Sällan"]}
        assert (await here.call("polls.create", poll)).get("ok")
        refused = await elsewhere.call("polls.create", poll)
        assert not refused.get("ok") and refused["error"]["code"] == "auth.forbidden"

        async with database.session() as db:
            role_id = int(await db.scalar(select(StaffRole.id).where(
                StaffRole.user_id == lena_id)))
        await chef.page(f"/admin/staff/{lena_id}")
        taken = await chef.post(f"/admin/staff/roles/{role_id}/remove", {})
        assert taken.status_code == 200 and "Rollerna är sparade" in taken.text
        await here.wait_for("session.ended")  # the page reloads and asks again
        again = await lena.connect("varen-2027")
        try:
            refused = await again.call("polls.create", poll)
            assert refused["error"]["code"] == "auth.forbidden"
        finally:
            await again.close()
    finally:
        for client in (here, elsewhere):
            await client.close()
        await lena.close()
        await chef.close()
        await database.close()


async def _roles(platform: Any, user: int) -> list[StaffRole]:
    async with platform.db.session() as db:
        return list(await db.scalars(select(StaffRole).where(StaffRole.user_id == user)))
