"""Single sign-on for staff against a real OpenID Connect provider (npm oidc-provider, started
by the test with its own login and consent pages): the code flow with PKCE, state and nonce,
roles from a claim or as admins gave them, and the refusals."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from server.platform.models import Event, StaffRole, User
from server.staff.models import StaffToken
from server.staff.sso import SSO, OpenIdConnect
from tests.conftest import free_port, signed_in
from tests.integration.test_staff_roles import post

JS = Path(__file__).resolve().parents[1] / "js"
CALLBACK = "http://127.0.0.1/login/sso/callback"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]


@pytest.fixture(scope="module")
def provider_packages() -> None:
    if not (JS / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "ci", "--prefix", str(JS), "--no-audit", "--no-fund"], check=True)


@pytest.fixture
async def provider(provider_packages: None) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        "node", "oidc_provider.mjs", str(port), CALLBACK, cwd=JS,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    assert line.strip() == b"ready"
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    await process.wait()


@pytest.fixture
def sso_app(app, provider: str):  # type: ignore[no-untyped-def]
    settings = app.platform.settings
    settings.oidc_issuer, settings.oidc_client_id = provider, "traffpunkt"
    settings.oidc_client_secret, settings.oidc_role_claim = "test-client-secret", "traffpunkt_role"
    settings.oidc_extra_scopes = "traffpunkt"
    app.platform.provide(SSO, OpenIdConnect(settings), replace=True)
    return app


async def sign_in_at_provider(start: str, login: str) -> str:
    """Walk the provider's own pages as a browser would: login (any password), consent; the
    redirect back to us (our callback's path and query)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        url = start
        for _ in range(12):
            response = await browser.get(url)
            if response.status_code in (302, 303):
                url = str(response.url.join(response.headers["location"]))
                if url.startswith(CALLBACK):
                    return url.removeprefix("http://127.0.0.1")
                continue
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert action, response.text[:500]
            fields = dict(re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text))
            if 'name="login"' in response.text:
                fields |= {"login": login, "password": "anything"}
            response = await browser.post(str(response.url.join(action.group(1))), data=fields)
            url = str(response.url.join(response.headers["location"]))
            if url.startswith(CALLBACK):
                return url.removeprefix("http://127.0.0.1")
    raise AssertionError("the provider never sent the browser back")


async def sso_login(app, login: str):  # type: ignore[no-untyped-def]
    client = app.quart.test_client()
    started = await client.get("/login/sso?next=/e/hosten-2020/moderate")
    assert started.status_code == 302
    location = started.headers["Location"]
    assert "code_challenge_method=S256" in location and "nonce=" in location
    back = await sign_in_at_provider(location, login)
    return client, await client.get(back)


async def test_a_role_claim_makes_a_new_staff_member(sso_app) -> None:
    page = (await (await sso_app.quart.test_client().get("/login")).get_data()).decode()
    assert "Logga in med KB-konto" in page
    client, done = await sso_login(sso_app, "lotta")
    assert done.status_code == 302 and done.headers["Location"] == "/e/hosten-2020/moderate"
    assert (await client.get("/e/hosten-2020/moderate")).status_code == 200
    async with sso_app.platform.db.session() as db:
        user = await db.scalar(select(User).where(User.email == "lotta@kb.se"))
    assert (user.display_name, user.role) == ("Lotta Berg", "moderator")
    assert user.oidc_subject and user.oidc_subject.endswith("|lotta")
    again, done = await sso_login(sso_app, "lotta")  # the same person, linked by subject
    async with sso_app.platform.db.session() as db:
        assert await db.scalar(select(User.id).where(User.email == "lotta@kb.se")) == user.id


async def test_without_a_role_claim_the_role_is_the_one_admins_gave(sso_app) -> None:
    await signed_in(sso_app, "admin")
    async with sso_app.platform.db.transaction() as db:
        db.add(User(username="nils", display_name="Nils Holm", role="archivist",
                    email="nils@kb.se", password_hash="x"))
    client, done = await sso_login(sso_app, "nils")
    assert done.status_code == 302
    assert (await client.get("/archive")).status_code == 200
    async with sso_app.platform.db.session() as db:
        user = await db.scalar(select(User).where(User.username == "nils"))
    assert user.role == "archivist" and user.oidc_subject.endswith("|nils")


async def test_an_invitation_maps_the_role_of_someone_signing_in_for_the_first_time(
        sso_app) -> None:
    """No role claim for nils: the invitation an admin sent his address gives his role at one
    event, with his regions, and is spent."""
    admin = await signed_in(sso_app, "admin")
    async with sso_app.platform.db.session() as db:
        autumn = await db.scalar(select(Event.id).where(Event.slug == "hosten-2020"))
    sent = await post(admin, "/admin/staff/invite", {
        "email": "nils@kb.se", "display_name": "Nils Holm", "role": "facilitator",
        "event": str(autumn), "regions": ["AC", "BD"]})
    assert sent.status_code == 302
    client, done = await sso_login(sso_app, "nils")
    assert done.status_code == 302
    assert (await client.get("/e/hosten-2020/feedback/regions/BD")).status_code == 200
    assert (await client.get("/e/hosten-2020/feedback/regions/AB")).status_code == 403
    async with sso_app.platform.db.session() as db:
        user = await db.scalar(select(User).where(User.email == "nils@kb.se"))
        role = await db.scalar(select(StaffRole).where(StaffRole.user_id == user.id))
        spent = await db.scalar(select(StaffToken.used_at).where(StaffToken.email == "nils@kb.se"))
    assert (user.role, role.role, role.regions) == ("staff", "facilitator", ["AC", "BD"])
    assert spent is not None, "the invitation link is spent"


async def test_an_unverified_address_or_an_unknown_role_signs_no_one_in(sso_app) -> None:
    await signed_in(sso_app, "admin")
    async with sso_app.platform.db.transaction() as db:
        admin = await db.scalar(select(User).where(User.username == "admin"))
        admin.email = "admin@kb.se"
    client, done = await sso_login(sso_app, "mallory")
    assert done.status_code == 401
    assert "ingen roll i Träffpunkt" in (await done.get_data()).decode()
    assert (await client.get("/e/hosten-2020/moderate")).status_code == 401
    async with sso_app.platform.db.session() as db:
        assert (await db.scalar(select(User).where(User.username == "admin"))).oidc_subject \
            is None, "an unverified address links nothing"


async def test_a_callback_with_another_state_is_refused(sso_app) -> None:
    client = sso_app.quart.test_client()
    started = await client.get("/login/sso")
    back = await sign_in_at_provider(started.headers["Location"], "lotta")
    forged = re.sub(r"state=[^&]+", "state=forged", back)
    refused = await client.get(forged)
    assert refused.status_code == 401
    assert "startades inte här" in (await refused.get_data()).decode()
    replay = await client.get(back)  # the session's state is spent by the first try
    assert replay.status_code == 401


async def test_without_a_provider_there_is_no_single_sign_on(app, client) -> None:
    assert (await client.get("/login/sso")).status_code == 404
    assert (await client.get("/login/sso/callback?code=x&state=y")).status_code == 404
    assert "Logga in med" not in (await (await client.get("/login")).get_data()).decode()
