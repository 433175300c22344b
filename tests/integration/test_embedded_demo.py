"""The README's first command: `traffpunkt demo` on the embedded defaults, in a fresh directory.

scripts/serve.sh installs and then runs `traffpunkt demo`; this test runs the same command
(`python -m server.cli demo`) with nothing configured: no DATABASE_URL, no REDIS_URL, no
SECRET_KEY. Everything it keeps goes under ./var of the directory it runs in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from tests.conftest import DEMO, ROOT, free_port, wait_for_port

pytestmark = pytest.mark.slow  # the demo, run as a process

# Settings that would make the run something other than the embedded defaults.
CONFIGURED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MEDIA_ROOT", "PUBLIC_URL",
              "TRAFFPUNKT_ENV", "NODE_ROLE", "MEDIA_PUBLIC_URL")


class Demo:
    def __init__(self, cwd: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.cwd, self.port, self.proc, self.log = cwd, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    workdir = tmp_path / "fresh-checkout"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k.upper() not in CONFIGURED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="traffpunkt-demo-", suffix=".log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "demo", "--port", str(port)],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            # Migrations, the demo event, four argon2 hashes and the media engine: give it time.
            wait_for_port(port, proc, Path(log.name), timeout=90)
            yield Demo(workdir, port, proc, Path(log.name))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_demo_serves_the_autumn_2020_event_on_the_embedded_defaults(demo: Demo) -> None:
    with httpx.Client(base_url=demo.url, timeout=20) as http:
        health = http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"database": True, "redis": "not used"}
        page = http.get("/e/hosten-2020")
    assert page.status_code == 200
    event = json.loads(DEMO.read_text(encoding="utf-8"))
    assert "Träffpunkt biblioteksplaner hösten 2020" in page.text
    missing = [item["title"] for item in event["programme"]
               if str(escape(item["title"])) not in page.text]
    assert missing == []
    assert '<p class="organisations">Övriga organisationer: stiftelsen Begripsam</p>' in page.text
    assert "Johanna Rivano Eckerdal, Institutionen för kulturvetenskaper vid Lunds universitet" \
        in page.text
    var = demo.cwd / "var"
    assert (var / "secret_key").is_file() and len((var / "secret_key").read_text().strip()) >= 32
    assert (var / "traffpunkt.db").is_file() and (var / "traffpunkt.db").stat().st_size > 0
    credentials = (var / "demo-credentials.txt").read_text()
    assert {line.split()[0] for line in credentials.splitlines()} == {
        "moderator", "admin", "arkivarie", "talare", "skrivtolk"}
    assert "Demoevenemang: /e/hosten-2020" in demo.output()

    # The demo admin reaches the organisers' pages (issue 23 point 8), on SQLite.
    password = next(line.split()[1] for line in credentials.splitlines()
                    if line.split()[0] == "admin")
    with httpx.Client(base_url=demo.url, timeout=20) as http:
        token = re.search(r'name="csrf-token" content="([^"]+)"', http.get("/login").text)
        assert token
        signed = http.post("/login", data={"username": "admin", "password": password,
                                           "csrf_token": token.group(1)})
        assert signed.status_code == 302, signed.text
        pages = {path: http.get(path) for path in (
            "/admin/events", "/admin/events/hosten-2020", "/admin/events/hosten-2020/programme",
            "/admin/events/hosten-2020/themes", "/admin/staff", "/admin/mail",
            "/e/hosten-2020/registrations")}
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(pages, 200)
    assert "Träffpunkt biblioteksplaner hösten 2020" in pages["/admin/events"].text
    assert "Ingen e-postserver är inställd" in pages["/admin/mail"].text

    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(20) == 0, demo.output()[-2000:]
