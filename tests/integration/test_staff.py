"""Staff login and the pages only staff may see."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, get_csrf

pytestmark = pytest.mark.slow  # the CLI, run as processes


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **env}, timeout=60)


async def test_created_moderator_logs_in_and_opens_the_console(app, client, clean_db) -> None:
    env = {"DATABASE_URL": clean_db, "SECRET_KEY": "x", "TRAFFPUNKT_ENV": "test",
           "PW": "ett-långt-lösenord"}
    made = cli("create-user", "lotta", "--role", "moderator", "--name", "Lotta B",
               "--password-env", "PW", env=env)
    assert made.returncode == 0, made.stderr
    again = cli("create-user", "lotta", "--role", "moderator", "--password-env", "PW", env=env)
    assert again.returncode == 2 and "finns redan" in again.stderr
    assert (await client.get("/e/hosten-2020/moderate")).status_code == 401
    token = await get_csrf(client, "/login")
    wrong = await client.post(
        "/login", form={"csrf_token": token, "username": "lotta", "password": "fel"}
    )
    assert wrong.status_code == 401
    ok = await client.post("/login", form={"csrf_token": token, "username": "lotta",
                                           "password": "ett-långt-lösenord"})
    assert ok.status_code == 302
    console = await client.get("/e/hosten-2020/moderate")
    assert console.status_code == 200
    assert "Moderatorkonsol" in (await console.get_data()).decode()


async def test_participant_cannot_open_the_console(app, client) -> None:
    from tests.conftest import register

    await register(client)
    response = await client.get("/e/hosten-2020/moderate")
    assert response.status_code == 403


async def test_weak_password_and_bad_role_are_refused(clean_db) -> None:
    env = {"DATABASE_URL": clean_db, "SECRET_KEY": "x", "TRAFFPUNKT_ENV": "test", "PW": "kort"}
    weak = cli("create-user", "kalle", "--role", "archivist", "--password-env", "PW", env=env)
    assert weak.returncode == 2 and "minst 10 tecken" in weak.stderr
    role = cli("create-user", "kalle", "--role", "kung", "--password-env", "PW", env=env)
    assert role.returncode == 2 and "invalid choice" in role.stderr


async def test_import_event_file_and_refuse_duplicates(clean_db, tmp_path) -> None:
    env = {"DATABASE_URL": clean_db, "SECRET_KEY": "x", "TRAFFPUNKT_ENV": "test"}
    demo = str(ROOT / "server" / "data" / "demo_event.json")
    first = cli("import-event", demo, env=env)
    assert first.returncode == 0 and "hosten-2020" in first.stdout
    second = cli("import-event", demo, env=env)
    assert second.returncode == 2 and "finns redan" in second.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"slug": "Ogiltig Slug!", "title": ""}')
    broken = cli("import-event", str(bad), env=env)
    assert broken.returncode == 2 and "event.invalid_file" in broken.stderr
