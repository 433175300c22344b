"""Sessions live on the server (issue 19, point 4): logging out ends a session everywhere, so a
copied cookie replayed afterwards is refused, and so are socket tokens asked for under it;
a password change ends every session of the person; staff sessions end when idle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from server.platform import sessions
from server.platform.auth import hash_password
from server.platform.models import User, WebSession, utcnow
from tests.conftest import get_csrf

pytestmark = pytest.mark.integration


async def add_moderator(app: Any) -> int:
    async with app.platform.db.transaction() as db:
        user = User(username="mona", display_name="Mona", role="moderator",
                    password_hash=hash_password("monas-lösenord-1"))
        db.add(user)
        await db.flush()
        return user.id


async def signed_in(app: Any) -> Any:
    client = app.quart.test_client()
    token = await get_csrf(client, "/login")
    answer = await client.post("/login", form={
        "username": "mona", "password": "monas-lösenord-1", "csrf_token": token})
    assert answer.status_code == 302
    return client


def cookie_of(client: Any) -> str:
    return next(c.value for c in client.cookie_jar if c.name == "tp_session")


async def last_seen(app: Any, minutes_ago: int) -> None:
    async with app.platform.db.transaction() as db:
        await db.execute(update(WebSession).values(
            last_seen_at=utcnow() - timedelta(minutes=minutes_ago)))


async def can_moderate(client: Any) -> bool:
    return (await client.get("/e/hosten-2020/moderate")).status_code == 200


async def test_a_cookie_replayed_after_logout_is_refused(app: Any) -> None:
    await add_moderator(app)
    mona = await signed_in(app)
    stolen = cookie_of(mona)
    assert await can_moderate(mona)
    thief = app.quart.test_client()
    thief.set_cookie("127.0.0.1", "tp_session", stolen)
    assert await can_moderate(thief), "a copy works while the session lives"

    csrf = await get_csrf(mona, "/")
    token = (await mona.post("/api/events/hosten-2020/socket-token",
                             headers={"X-CSRF-Token": csrf})).get_json
    socket_token = (await token())["token"]
    assert (await mona.post("/logout", form={"csrf_token": csrf})).status_code == 302

    assert not await can_moderate(mona)
    assert not await can_moderate(thief), "the replayed cookie names an ended session"
    from server.platform.connection import authenticate
    from server.platform.errors import DomainError

    with pytest.raises(DomainError) as refused:
        await authenticate(app.platform, {"token": socket_token})
    assert refused.value.code == "auth.invalid_session"


async def test_a_password_change_ends_every_session_of_the_person(app: Any) -> None:
    user_id = await add_moderator(app)
    laptop, phone = await signed_in(app), await signed_in(app)
    assert await can_moderate(laptop) and await can_moderate(phone)
    async with app.platform.db.transaction() as db:
        ended = await sessions.end_all(db, user_id=user_id)
    assert ended == 2
    assert not await can_moderate(laptop) and not await can_moderate(phone)


async def test_an_idle_staff_session_ends(app: Any) -> None:
    await add_moderator(app)
    mona = await signed_in(app)
    assert await can_moderate(mona)
    idle = app.platform.settings.staff_idle_minutes
    await last_seen(app, minutes_ago=idle + 1)
    assert not await can_moderate(mona), "idle past the limit: signed out"


async def test_use_keeps_a_staff_session_alive(app: Any) -> None:
    await add_moderator(app)
    mona = await signed_in(app)
    idle = app.platform.settings.staff_idle_minutes
    await last_seen(app, minutes_ago=idle - 1)  # almost idle, then used
    assert await can_moderate(mona)
    async with app.platform.db.session() as db:
        row = (await db.scalars(select(WebSession))).one()
    assert utcnow() - row.last_seen_at < timedelta(minutes=1), "the use was recorded"


@pytest.mark.slow
async def test_set_password_on_the_command_line_ends_the_sessions(app: Any, clean_db: str) -> None:
    """`traffpunkt set-password`, exactly as an operator runs it."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    await add_moderator(app)
    laptop = await signed_in(app)
    assert await can_moderate(laptop)
    changed = subprocess.run(
        [sys.executable, "-m", "server.cli", "set-password", "mona", "--password-env", "NEW"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": clean_db, "NEW": "ett-nytt-lösenord", "SECRET_KEY": "x"})
    assert changed.returncode == 0, changed.stderr
    assert "1 inloggningar avslutades" in changed.stdout
    assert not await can_moderate(laptop)
