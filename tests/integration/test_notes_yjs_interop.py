"""Real Yjs editors in Node, talking y-protocols to a NotesRoom, converge with the server."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path

import pytest

from rooms.notes import NotesRoom
from rooms.notes_storage import MemoryNotesStorage

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / "tests" / "js" / "notes_peer.mjs"
THEMES = ["planer", "uppfoljning"]

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class NodePeer:
    """One Node process running tests/js/notes_peer.mjs: a browser editor without a browser."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process

    @classmethod
    async def start(cls, name: str) -> NodePeer:
        process = await asyncio.create_subprocess_exec(
            "node", str(PEER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(name, process)

    async def command(self, line: str) -> list[str]:
        """Send one command; return its output lines (raises on ``error``)."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(line.encode("ascii") + b"\n")
        await self.process.stdin.drain()
        lines: list[str] = []
        while (reply := (await self.process.stdout.readline()).decode().strip()) != "ok":
            if reply.startswith("error") or not reply:
                raise AssertionError(f"{self.name}: {line.split()[0]} failed: {reply}")
            lines.append(reply)
        return lines

    async def dump(self) -> tuple[dict[str, str], list[str]]:
        lines = dict(line.split(" ", 1) for line in await self.command("dump"))
        return json.loads(base64.b64decode(lines["texts"])), json.loads(lines["peers"])

    async def stop(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        await self.process.wait()


class Router:
    """Carries messages between the Node editors and the room, as socket.io will."""

    def __init__(self, room: NotesRoom) -> None:
        self.room = room
        self.peers: dict[str, NodePeer] = {}

    async def connect(self, peer: NodePeer) -> None:
        self.peers[peer.name] = peer
        await self.route_to(peer.name, self.room.join(peer.name))
        await self.from_peer(peer.name, await peer.command("hello"))

    async def from_peer(self, name: str, lines: list[str]) -> None:
        for line in lines:
            kind, data = line.split(" ", 1)
            assert kind == "send"
            await self.route_to(name, await self.room.handle(base64.b64decode(data), name))

    async def route_to(self, sender: str, outbound: list[tuple[str, bytes]]) -> None:
        for target, data in outbound:
            names = [sender] if target == "sender" else [n for n in self.peers if n != sender]
            for name in names:
                message = base64.b64encode(data).decode("ascii")
                await self.from_peer(name, await self.peers[name].command(f"recv {message}"))


@pytest.fixture
async def router() -> Router:
    return Router(await NotesRoom.open("rum-interop", THEMES, MemoryNotesStorage()))


async def test_yjs_editors_and_server_hold_identical_text_after_concurrent_edits(
    router: Router,
) -> None:
    anna, bo = await NodePeer.start("anna"), await NodePeer.start("bo")
    try:
        await router.connect(anna)
        await router.connect(bo)
        # Both type into the same section before either hears of the other: truly concurrent.
        a1 = await anna.command(f"type planer end {b64('Hej från Skåne 🦐, åäö! ')}")
        b1 = await bo.command(f"type planer start {b64('Västerbotten här 👩‍👩‍👧 ÅÄÖ ')}")
        await router.from_peer("anna", a1)
        await router.from_peer("bo", b1)
        # Yjs deletes by UTF-16 positions; the server must merge them without offsets of its own.
        a2 = await anna.command("delete planer 0 2")
        b2 = await bo.command(f"type uppfoljning end {b64('Örebro följer upp ❤️')}")
        await router.from_peer("bo", b2)
        await router.from_peer("anna", a2)

        (anna_texts, _), (bo_texts, _) = await anna.dump(), await bo.dump()
        server = router.room.texts()
        assert anna_texts == bo_texts == server
        # Two inserts into an empty section in either order (Yjs orders them by client id),
        # then anna's deletion of the first two UTF-16 units.
        a, b = "Hej från Skåne 🦐, åäö! ", "Västerbotten här 👩‍👩‍👧 ÅÄÖ "
        assert server["planer"] in {(a + b)[2:], (b + a)[2:]}
        assert server["uppfoljning"] == "Örebro följer upp ❤️"
    finally:
        await anna.stop()
        await bo.stop()


async def test_late_yjs_editor_gets_text_and_cursors_and_reload_matches(router: Router) -> None:
    anna, bo = await NodePeer.start("anna"), await NodePeer.start("bo")
    try:
        await router.connect(anna)
        await router.from_peer("anna", await anna.command(f"cursor {b64('Åsa Öberg')}"))
        typed = await anna.command(f"type uppfoljning end {b64('Gävleborg ✨')}")
        await router.from_peer("anna", typed)
        await router.connect(bo)
        bo_texts, bo_sees = await bo.dump()
        assert bo_texts["uppfoljning"] == "Gävleborg ✨"
        assert bo_sees == ["Åsa Öberg"]
        reloaded = await NotesRoom.open("rum-interop", THEMES, router.room._storage)
        assert reloaded.texts() == bo_texts
    finally:
        await anna.stop()
        await bo.stop()
