"""Real Yjs clients (Node: the page's own static/js/notes_protocol.js, the vendored Yjs and a real
socket.io client) against a live server: concurrent edits, offline edits, awareness, and the
server and both clients holding the same text."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODERATOR, LiveServer
from tests.helpers import Browser
from tests.integration.test_notes_support import (
    export_json,
    make_rooms,
    participant,
    registration_id,
)

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module", autouse=True)
def socketio_client_for_node() -> None:
    """npm's socket.io-client, pinned in tests/js/package-lock.json (node_modules is ignored)."""
    if not (JS / "node_modules" / "socket.io-client").exists():
        subprocess.run(["npm", "ci", "--prefix", str(JS), "--no-audit", "--no-fund"], check=True)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class YjsPeer:
    """tests/js/notes_sio_peer.mjs in its own Node process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server: LiveServer, browser: Browser, room: int) -> YjsPeer:
        token = await browser.socket_token()
        process = await asyncio.create_subprocess_exec(
            "node", "--import", "./static_loader.mjs", "notes_sio_peer.mjs",
            server.url, token, str(room), cwd=JS,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        peer = cls(process)
        await peer.until(lambda _: True, "synced")
        return peer

    async def command(self, line: str) -> list[str]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(line.encode("ascii") + b"\n")
        await self.process.stdin.drain()
        lines: list[str] = []
        while (reply := (await self.process.stdout.readline()).decode().strip()) != "ok":
            if reply.startswith("error") or not reply:
                raise AssertionError(f"{line.split()[0]}: {reply}")
            lines.append(reply)
        return lines

    async def dump(self) -> tuple[dict[str, str], list[Any], list[str]]:
        raw = await self.command("dump")
        lines = dict(line.split(" ", 1) for line in raw)
        assert "texts" in lines, raw
        texts = json.loads(base64.b64decode(lines["texts"]))
        return texts, json.loads(lines["peers"]), json.loads(lines["refusals"])

    async def until(self, check: Any, command: str = "dump", timeout: float = 15) -> Any:
        """Repeat ``command`` until it succeeds and ``check`` holds on its answer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                answer = await (self.dump() if command == "dump" else self.command(command))
                if check(answer):
                    return answer
            except AssertionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"never true: {answer}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        await self.process.wait()


async def test_two_yjs_clients_edit_concurrently_and_offline_and_all_agree(
    demo_server: LiveServer, clean_db: str
) -> None:
    anna = await participant(demo_server.url, "Anna Åkesson", "O")
    bo = await participant(demo_server.url, "Bo Öberg", "O")
    members = [await registration_id(clean_db, n) for n in ("Anna Åkesson", "Bo Öberg")]
    room = (await make_rooms(clean_db, {"o": {"name": "Västra Götaland", "regions": ["O"],
                                              "members": members}})).ids["o"]
    a, b = await YjsPeer.start(demo_server, anna, room), await YjsPeer.start(demo_server, bo, room)
    kb = Browser(demo_server.url)
    await kb.login(*MODERATOR)
    try:
        # Concurrent: both type into the same empty section at once.
        await asyncio.gather(a.command(f"type utformning end {b64('Göteborg 🚋 åäö ')}"),
                             b.command(f"type utformning start {b64('Borås 🧵 ÅÄÖ ')}"))
        # The textarea binding: replace a whole value, emoji and all, by diffing.
        await b.until(lambda d: "Göteborg 🚋 åäö " in d[0]["utformning"])
        both, _, _ = await b.dump()
        edited = both["utformning"].replace("🚋", "🚢 och Älvsborg")
        await b.command(f"edit utformning {b64(edited)}")
        await a.command("delete utformning 0 2")  # UTF-16 positions, as Yjs counts
        await a.command(f"cursor {b64('Anna Åkesson')} kris")
        agreed = await a.until(lambda d: "🚢 och Älvsborg" in d[0]["utformning"])

        # Offline: Anna goes on writing without a connection; Bo writes too; they merge.
        await a.command("offline")
        await a.command(f"type kris end {b64('Skrivet offline i Lysekil 🛶 ')}")
        await b.command(f"type kris end {b64('Skrivet online i Trollhättan ⚡ ')}")
        await a.command("online")
        done = ("Skrivet offline i Lysekil 🛶 ", "Skrivet online i Trollhättan ⚡ ")
        # Bo gets the merged text, and Anna's cursor again once her client is back.
        texts_b, peers_b, errors_b = await b.until(
            lambda d: all(x in d[0]["kris"] for x in done) and ["Anna Åkesson", "kris"] in d[1])
        texts_a, _, errors_a = await a.until(lambda d: d[0] == texts_b)

        assert texts_a == texts_b
        assert errors_a == errors_b == []
        server = {p["theme"]: p["text"] for p in (await export_json(kb, room=room))["parts"]}
        assert server == texts_a, "the server holds exactly what both Yjs clients hold"
        assert "Borås 🧵 ÅÄÖ " in server["utformning"] or "rås 🧵 ÅÄÖ " in server["utformning"]
        assert "🚢 och Älvsborg åäö" in server["utformning"] and "🚋" not in server["utformning"]
        assert {"Skrivet offline i Lysekil 🛶 ", "Skrivet online i Trollhättan ⚡ "} <= {
            server["kris"][: len("Skrivet offline i Lysekil 🛶 ")],
            server["kris"][-len("Skrivet online i Trollhättan ⚡ "):],
            server["kris"][: len("Skrivet online i Trollhättan ⚡ ")],
            server["kris"][-len("Skrivet offline i Lysekil 🛶 "):],
        }
        assert ["Anna Åkesson", "kris"] in peers_b, "Bo sees where Anna is writing"
        assert agreed[0]["utformning"] != ""
    finally:
        for peer in (a, b):
            await peer.stop()
        for browser in (anna, bo, kb):
            await browser.close()
